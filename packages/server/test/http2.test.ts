import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { createParser, type ServerSentEvent } from '@herald/protocol'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createStreamServer, type Session, type StreamServer } from '../src/index.js'
import { selfSignedCert } from './helpers.js'

let streams: StreamServer | undefined
let server: http2.Http2Server | http2.Http2SecureServer | undefined
let client: http2.ClientHttp2Session | undefined
let cert: { key: Buffer; cert: Buffer } | undefined

beforeAll(() => {
  cert = selfSignedCert()
})

afterEach(async () => {
  client?.close()
  client = undefined
  await streams?.close()
  const s = server
  server = undefined
  if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()))
})

async function listenOn(s: http2.Http2Server | http2.Http2SecureServer): Promise<number> {
  server = s
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return (s.address() as AddressInfo).port
}

interface H2Stream {
  headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader
  events: ServerSentEvent[]
  retries: number[]
  ended: boolean
  until(predicate: () => boolean): Promise<void>
  stream: http2.ClientHttp2Stream
}

function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<H2Stream> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/events', accept: 'text/event-stream', ...headers })
    const waiters = new Set<() => void>()
    const state: H2Stream = {
      headers: {},
      events: [],
      retries: [],
      ended: false,
      stream,
      until(predicate) {
        if (predicate()) return Promise.resolve()
        return new Promise((done) => {
          const check = () => {
            if (predicate()) {
              waiters.delete(check)
              done()
            }
          }
          waiters.add(check)
        })
      },
    }
    const parser = createParser({
      onEvent: (event) => state.events.push(event),
      onRetry: (ms) => state.retries.push(ms),
    })
    stream.on('response', (responseHeaders) => {
      state.headers = responseHeaders
      resolve(state)
    })
    stream.on('data', (chunk: Buffer) => {
      parser.feed(chunk)
      for (const waiter of waiters) waiter()
    })
    stream.on('close', () => {
      state.ended = true
      for (const waiter of waiters) waiter()
    })
    stream.on('error', reject)
    stream.end()
  })
}

function expectH2StreamHeaders(
  headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
) {
  expect(headers[':status']).toBe(200)
  expect(headers['content-type']).toBe('text/event-stream; charset=utf-8')
  expect(headers['cache-control']).toBe('no-cache, no-store, no-transform')
  expect(headers['x-accel-buffering']).toBe('no')
  // Connection-specific headers are forbidden in HTTP/2.
  expect(headers.connection).toBeUndefined()
}

describe('node:http2', () => {
  it('serves h2c through the compat API (req, res)', async () => {
    streams = createStreamServer({ retryMs: 1500 })
    const s = streams
    let session: Session | undefined
    const port = await listenOn(
      http2.createServer((req, res) => {
        session = s.handleNode(req, res)
      }),
    )
    client = http2.connect(`http://127.0.0.1:${port}`)
    const stream = await request(client, { 'last-event-id': '12' })
    expectH2StreamHeaders(stream.headers)
    expect(session?.info.httpVersion).toBe('2')
    expect(session?.lastEventId).toBe('12')
    for (let i = 0; i < 3; i++) session?.send({ id: String(13 + i), data: `h2-${i}` })
    await stream.until(() => stream.events.length === 3)
    expect(stream.retries).toEqual([1500])
    expect(stream.events.map((e) => e.data)).toEqual(['h2-0', 'h2-1', 'h2-2'])
    session?.close()
    await stream.until(() => stream.ended)
    expect(s.size).toBe(0)
  })

  it('serves h2c through the core API (stream, headers) and notices a client reset', async () => {
    streams = createStreamServer()
    const s = streams
    let session: Session | undefined
    const h2 = http2.createServer()
    h2.on('stream', (stream, headers) => {
      session = s.handleHttp2Stream(stream, headers)
    })
    const port = await listenOn(h2)
    client = http2.connect(`http://127.0.0.1:${port}`)
    const stream = await request(client, {})
    expectH2StreamHeaders(stream.headers)
    // Headers were flushed before any event.
    expect(stream.events).toEqual([])
    session?.send({ data: 'core' })
    await stream.until(() => stream.events.length === 1)
    const open = session
    stream.stream.close(http2.constants.NGHTTP2_CANCEL)
    expect(await open?.closed).toBe('client')
    expect(s.size).toBe(0)

    const refused = await new Promise<number>((resolve) => {
      const r = client?.request({ ':path': '/', accept: 'application/json' })
      r?.on('response', (h) => resolve(Number(h[':status'])))
      r?.resume()
      r?.end()
    })
    expect(refused).toBe(406)
  })

  it('closes an HTTP/2 stream whose reader never reads as a slow consumer', async () => {
    streams = createStreamServer({ maxQueueBytes: 128 * 1024, heartbeatMs: 0 })
    const s = streams
    let session: Session | undefined
    const h2 = http2.createServer()
    h2.on('stream', (stream, headers) => {
      session = s.handleHttp2Stream(stream, headers)
    })
    const port = await listenOn(h2)
    client = http2.connect(`http://127.0.0.1:${port}`)
    const stalled = client.request({ ':path': '/', accept: 'text/event-stream' })
    stalled.on('error', () => {})
    // Never read: flow control stops the server once the window (64 KiB) is used up.
    stalled.pause()
    await new Promise((resolve) => stalled.once('response', resolve))
    const open = session
    if (open === undefined) throw new Error('no session')
    const frame = { data: 'w'.repeat(8 * 1024) }
    let maxBuffered = 0
    for (let turn = 0; turn < 2000 && open.closeReason === undefined; turn++) {
      open.send(frame)
      maxBuffered = Math.max(maxBuffered, open.bufferedBytes)
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await open.closed).toBe('slow-consumer')
    expect(maxBuffered).toBeLessThanOrEqual(128 * 1024 + 8 * 1024 + 16)
    expect(s.size).toBe(0)
  })

  it('serves HTTP/2 over TLS with a self-signed certificate', async () => {
    streams = createStreamServer()
    const s = streams
    let session: Session | undefined
    if (cert === undefined) throw new Error('no certificate')
    const port = await listenOn(
      http2.createSecureServer({ key: cert.key, cert: cert.cert }, (req, res) => {
        session = s.handleNode(req, res)
      }),
    )
    client = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.cert })
    const stream = await request(client, {})
    expectH2StreamHeaders(stream.headers)
    expect(session?.info.url.protocol).toBe('https:')
    session?.send({ data: 'secure' })
    await stream.until(() => stream.events.length === 1)
    expect(stream.events[0]?.data).toBe('secure')
  })
})
