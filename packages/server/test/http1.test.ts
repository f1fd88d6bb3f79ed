import { isHeraldError } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { createFrame, createStreamServer, type Session, type StreamServer } from '../src/index.js'
import { fetchText, listen, openStream, type TestServer } from './helpers.js'

let server: TestServer | undefined
let streams: StreamServer | undefined

afterEach(async () => {
  await streams?.close()
  await server?.close()
  server = undefined
  streams = undefined
})

async function start(
  options: Parameters<typeof createStreamServer>[0] = {},
  onSession: (session: Session) => void = () => {},
) {
  streams = createStreamServer(options)
  const s = streams
  server = await listen((req, res) => {
    const session = s.handleNode(req, res)
    if (session !== undefined) onSession(session)
  })
  return { streams: s, port: server.port }
}

describe('node:http streams', () => {
  it('sends the event-stream headers, flushed before any event', async () => {
    const { port, streams } = await start()
    // Nothing is ever sent: the response must still arrive (headers flushed at once).
    const client = await openStream(port)
    expect(client.response.statusCode).toBe(200)
    const headers = client.response.headers
    expect(headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(headers['cache-control']).toBe('no-cache, no-store, no-transform')
    expect(headers['x-accel-buffering']).toBe('no')
    expect(headers.connection).toBe('keep-alive')
    expect(headers['content-length']).toBeUndefined()
    expect(headers['access-control-allow-origin']).toBeUndefined()
    expect(headers['content-encoding']).toBeUndefined()
    expect(streams.size).toBe(1)
    client.close()
  })

  it('sends the retry hint first, then events in order', async () => {
    const { port } = await start({ retryMs: 2500 }, (session) => {
      session.send({ data: 'one', id: '1' })
      session.sendFrame(createFrame({ event: 'tick', data: 'two\nlines', id: '2' }))
      session.comment('note')
    })
    const client = await openStream(port)
    await client.until(() => client.events.length === 2 && client.comments.length === 1)
    expect(client.retries).toEqual([2500])
    expect(client.raw.join('').startsWith('retry: 2500\n')).toBe(true)
    expect(client.events).toEqual([
      { type: 'message', data: 'one', lastEventId: '1' },
      { type: 'tick', data: 'two\nlines', lastEventId: '2' },
    ])
    expect(client.comments).toEqual(['note'])
    client.close()
  })

  it('refuses an Accept that excludes text/event-stream with 406', async () => {
    const { port, streams } = await start()
    for (const accept of ['application/json', 'text/event-stream;q=0, */*', 'text/html']) {
      const answer = await fetchText(port, { headers: { accept } })
      expect(answer.status, accept).toBe(406)
      expect(JSON.parse(answer.body)).toEqual({
        error: { code: 'HERALD_NOT_ACCEPTABLE', message: expect.any(String) },
      })
    }
    for (const accept of ['*/*', 'text/*', 'text/event-stream', 'application/json, */*;q=0.1']) {
      const client = await openStream(port, { headers: { accept } })
      expect(client.response.statusCode, accept).toBe(200)
      client.close()
    }
    // No Accept at all is fine too.
    const bare = await openStream(port, { headers: { accept: '' } })
    expect(bare.response.statusCode).toBe(200)
    bare.close()
    expect(streams.size).toBeLessThanOrEqual(5)
  })

  it('answers 405 for other methods and headers only for HEAD', async () => {
    const { port, streams } = await start()
    const post = await fetchText(port, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.allow).toBe('GET, HEAD, OPTIONS')
    expect(JSON.parse(post.body).error.code).toBe('HERALD_METHOD_NOT_ALLOWED')
    const head = await fetchText(port, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(streams.size).toBe(0)
  })

  it('reads Last-Event-ID from the header, else the query, and validates it', async () => {
    const seen: (string | undefined)[] = []
    const { port } = await start({}, (session) => {
      seen.push(session.lastEventId)
      session.close()
    })
    const read = async (path: string, headers: Record<string, string> = {}) => {
      const client = await openStream(port, { path, headers })
      await client.until(() => client.ended)
    }
    await read('/', { 'last-event-id': '42' })
    await read('/?lastEventId=7%20x')
    await read('/?lastEventId=7', { 'last-event-id': 'header-wins' })
    await read('/')
    await read('/?lastEventId=')
    expect(seen).toEqual(['42', '7 x', 'header-wins', undefined, undefined])

    const bad = await fetchText(port, { path: '/?lastEventId=a%0Ab' })
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.body).error.code).toBe('HERALD_INVALID_LAST_EVENT_ID')
    const nul = await fetchText(port, { path: '/?lastEventId=a%00b' })
    expect(nul.status).toBe(400)
    const long = await fetchText(port, { headers: { 'last-event-id': 'x'.repeat(1025) } })
    expect(long.status).toBe(400)
    expect(seen).toHaveLength(5)
  })

  it('closes: server close ends the response, client close is noticed', async () => {
    const sessions: Session[] = []
    const closes: string[] = []
    const { port, streams } = await start({ onClose: (_s, reason) => closes.push(reason) }, (s) =>
      sessions.push(s),
    )
    const a = await openStream(port)
    const b = await openStream(port)
    expect(sessions).toHaveLength(2)
    const [first, second] = sessions as [Session, Session]
    first.send({ data: 'bye' })
    first.close()
    await a.until(() => a.ended, 'end of stream')
    expect(a.events.map((e) => e.data)).toEqual(['bye'])
    expect(await first.closed).toBe('server')
    expect(first.signal.aborted).toBe(true)
    expect(first.send({ data: 'late' })).toBe(false)

    const signal = second.signal
    b.close()
    expect(await second.closed).toBe('client')
    expect(signal.aborted).toBe(true)
    expect(closes).toEqual(['server', 'client'])
    expect(streams.size).toBe(0)
  })

  it('refuses unsafe events with a typed error and keeps the stream', async () => {
    let session: Session | undefined
    const { port } = await start({}, (s) => {
      session = s
    })
    const client = await openStream(port)
    expect(() => session?.send({ data: 'x', event: 'a\nid: 666' })).toThrow(
      expect.objectContaining({ code: 'HERALD_INVALID_EVENT_TYPE' }),
    )
    try {
      session?.send({ data: 'x', id: 'a\0' })
    } catch (error) {
      expect(isHeraldError(error, 'HERALD_INVALID_EVENT_ID')).toBe(true)
    }
    session?.send({ data: 'fine' })
    await client.until(() => client.events.length === 1)
    expect(client.events[0]?.data).toBe('fine')
    client.close()
  })

  it('survives a throwing onOpen hook: that session closes with reason error', async () => {
    const reasons: string[] = []
    const { port, streams } = await start({
      onOpen() {
        throw new Error('bug in app code')
      },
      onClose: (_s, reason) => reasons.push(reason),
    })
    const client = await openStream(port)
    await client.until(() => client.ended)
    expect(reasons).toEqual(['error'])
    expect(streams.size).toBe(0)
  })

  it('exposes request info', async () => {
    let session: Session | undefined
    const { port } = await start({}, (s) => {
      session = s
    })
    const client = await openStream(port, {
      path: '/events?topic=a&topic=b',
      headers: { 'x-k': 'v' },
    })
    expect(session?.info.ip).toBe('127.0.0.1')
    expect(session?.info.httpVersion).toBe('1.1')
    expect(session?.info.url.pathname).toBe('/events')
    expect(session?.info.url.searchParams.getAll('topic')).toEqual(['a', 'b'])
    expect(session?.info.headers['x-k']).toBe('v')
    expect(session?.id).toMatch(/\S+/)
    client.close()
  })

  it('validates options with TypeErrors', () => {
    expect(() => createStreamServer({ heartbeatMs: -1 })).toThrow(TypeError)
    expect(() => createStreamServer({ maxQueueBytes: 0 })).toThrow(TypeError)
    expect(() => createStreamServer({ retryMs: 1.5 })).toThrow(TypeError)
    expect(() => createStreamServer({ cors: { origins: ['*'], credentials: true } })).toThrow(
      TypeError,
    )
    expect(() => createStreamServer({ cors: { origins: ['https://*.*.example.com'] } })).toThrow(
      TypeError,
    )
  })
})
