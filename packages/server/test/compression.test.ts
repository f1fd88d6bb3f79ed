import http from 'node:http'
import zlib from 'node:zlib'
import { createParser, type ServerSentEvent } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createStreamServer,
  type Session,
  type StreamServer,
  type StreamServerOptions,
} from '../src/index.js'
import { listen, openStream, type TestServer } from './helpers.js'

let server: TestServer | undefined
let streams: StreamServer | undefined

afterEach(async () => {
  await streams?.close()
  await server?.close()
})

async function start(options: StreamServerOptions) {
  streams = createStreamServer(options)
  const s = streams
  const sessions: Session[] = []
  server = await listen((req, res) => {
    const session = s.handleNode(req, res)
    if (session !== undefined) sessions.push(session)
  })
  return { port: server.port, sessions }
}

/** Opens a stream asking for `encoding`, decompressing as bytes arrive. */
function openCompressed(port: number, encoding: string) {
  return new Promise<{
    response: http.IncomingMessage
    events: ServerSentEvent[]
    until(n: number): Promise<void>
    close(): void
  }>((resolve, reject) => {
    const request = http.get(
      {
        host: '127.0.0.1',
        port,
        agent: false,
        headers: { accept: 'text/event-stream', 'accept-encoding': encoding },
      },
      (response) => {
        const events: ServerSentEvent[] = []
        const waiters = new Set<() => void>()
        const parser = createParser({ onEvent: (event) => events.push(event) })
        const coding = response.headers['content-encoding']
        const decoder =
          coding === 'br'
            ? zlib.createBrotliDecompress()
            : coding === 'gzip'
              ? zlib.createGunzip()
              : undefined
        const source = decoder === undefined ? response : response.pipe(decoder)
        source.on('data', (chunk: Buffer) => {
          parser.feed(chunk)
          for (const waiter of waiters) waiter()
        })
        source.on('error', () => {})
        resolve({
          response,
          events,
          until: (n) =>
            new Promise((done) => {
              const check = () => {
                if (events.length >= n) {
                  waiters.delete(check)
                  done()
                }
              }
              waiters.add(check)
              check()
            }),
          close: () => request.destroy(),
        })
      },
    )
    request.on('error', reject)
  })
}

describe('compression', () => {
  it('is off by default, whatever the client accepts', async () => {
    const { port } = await start({})
    const client = await openCompressed(port, 'gzip, br')
    expect(client.response.headers['content-encoding']).toBeUndefined()
    client.close()
  })

  for (const encoding of ['gzip', 'br'] as const) {
    it(`streams ${encoding}, flushed after every batch`, async () => {
      const { port, sessions } = await start({ compression: { encodings: [encoding] } })
      const client = await openCompressed(port, 'gzip, deflate, br')
      expect(client.response.headers['content-encoding']).toBe(encoding)
      expect(client.response.headers.vary).toContain('Accept-Encoding')
      const session = sessions[0] as Session
      // Each event must come out of the decompressor on its own: nothing waits in zlib.
      for (let i = 0; i < 3; i++) {
        session.send({ id: String(i), data: `compressed ${i} ${'abc'.repeat(50)}` })
        await client.until(i + 1)
      }
      expect(client.events.map((e) => e.lastEventId)).toEqual(['0', '1', '2'])
      session.close()
      client.close()
    })
  }

  it('prefers the server order among what the client allows, and needs consent', async () => {
    const { port } = await start({ compression: {} })
    const both = await openCompressed(port, 'gzip;q=1, br;q=0.5')
    expect(both.response.headers['content-encoding']).toBe('br')
    both.close()
    const gzipOnly = await openCompressed(port, 'gzip, br;q=0')
    expect(gzipOnly.response.headers['content-encoding']).toBe('gzip')
    gzipOnly.close()
    const none = await openStream(port)
    expect(none.response.headers['content-encoding']).toBeUndefined()
    none.close()
  })
})
