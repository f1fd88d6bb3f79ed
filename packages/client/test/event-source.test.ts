/**
 * EventSource against a real node:http server: one test per rule of the WHATWG processing
 * model, and per Herald option.
 */
import { isHeraldError } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { type ConnectionErrorEvent, EventSource, type EventSourceInit } from '../src/index.js'
import { type Handler, once, SSE_HEADERS, startServer, until } from './sse-server.js'

const fast = { backoff: { initialMs: 1, maxMs: 1 } } satisfies EventSourceInit
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function serve(handler: Handler) {
  const server = await startServer(handler)
  cleanups.push(() => server.close())
  return server
}

function open(url: string, init?: EventSourceInit): EventSource {
  const source = new EventSource(url, init)
  cleanups.push(() => source.close())
  return source
}

function collect(source: EventSource, type = 'message'): MessageEvent<string>[] {
  const events: MessageEvent<string>[] = []
  source.addEventListener(type, (event) => events.push(event))
  return events
}

describe('EventSource interface', () => {
  it('has the readyState constants on the class, the prototype and instances', async () => {
    const server = await serve(({ res }) => res.writeHead(204).end())
    const source = open(`${server.origin}/`)
    expect([EventSource.CONNECTING, EventSource.OPEN, EventSource.CLOSED]).toEqual([0, 1, 2])
    expect([source.CONNECTING, source.OPEN, source.CLOSED]).toEqual([0, 1, 2])
    expect(Object.getOwnPropertyNames(source)).not.toContain('CONNECTING')
    expect(source.readyState).toBe(EventSource.CONNECTING)
    expect(source.url).toBe(`${server.origin}/`)
    expect(source.withCredentials).toBe(false)
    expect(source).toBeInstanceOf(EventTarget)
  })

  it('throws a SyntaxError DOMException for an invalid URL, and TypeErrors for bad options', () => {
    expect(() => new EventSource('http://[bad')).toThrow(
      expect.objectContaining({ name: 'SyntaxError' }),
    )
    // Node has no document base URL: a relative URL cannot be resolved.
    expect(() => new EventSource('/events')).toThrow(DOMException)
    expect(() => new EventSource('http://127.0.0.1:9/', { inactivityTimeoutMs: -1 })).toThrow(
      /inactivityTimeoutMs/,
    )
    expect(
      () => new EventSource('http://127.0.0.1:9/', { backoff: { initialMs: 10, maxMs: 5 } }),
    ).toThrow(/backoff\.maxMs/)
    expect(() => new EventSource('http://127.0.0.1:9/', { maxAttempts: 0 })).toThrow(TypeError)
    expect(() => new EventSource('http://127.0.0.1:9/', { initialLastEventId: 'a\nb' })).toThrow(
      /initialLastEventId/,
    )
  })

  it('opens, then dispatches message and named events with data, origin and lastEventId', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write(': hello\n\ndata: one\ndata: two\nid: 1\n\n')
      res.write('event: update\ndata: {"x":1}\n\n')
      res.write('data: three\n\n')
    })
    const source = open(`${server.origin}/events`)
    const opened = once(source, 'open')
    const states: number[] = []
    source.onopen = () => states.push(source.readyState)
    const messages = collect(source)
    const updates = collect(source, 'update')
    const viaHandler: string[] = []
    source.onmessage = (event) => viaHandler.push(event.data)
    await opened
    await until(() => messages.length === 2 && updates.length === 1)
    expect(states).toEqual([EventSource.OPEN])
    expect(messages.map((e) => [e.data, e.lastEventId, e.origin])).toEqual([
      ['one\ntwo', '1', server.origin],
      ['three', '1', server.origin],
    ])
    expect(messages[0]).toBeInstanceOf(MessageEvent)
    expect(updates[0]?.data).toBe('{"x":1}')
    expect(updates[0]?.type).toBe('update')
    expect(viaHandler).toEqual(['one\ntwo', 'three'])
    expect(source.onmessage).toBeTypeOf('function')
    expect(source.lastEventId).toBe('1')
    const request = server.requests[0]
    expect(request?.headers.accept).toBe('text/event-stream')
    expect(request?.headers['last-event-id']).toBeUndefined()
  })

  it('removeEventListener and a null handler stop delivery', async () => {
    let send: (text: string) => void = () => {}
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS).flushHeaders()
      send = (text) => res.write(text)
    })
    const source = open(`${server.origin}/`)
    const seen: string[] = []
    const listener = (event: MessageEvent<string>) => seen.push(`listener:${event.data}`)
    source.addEventListener('message', listener)
    source.onmessage = (event) => seen.push(`handler:${event.data}`)
    await once(source, 'open')
    send('data: a\n\n')
    await until(() => seen.length === 2)
    source.removeEventListener('message', listener)
    source.onmessage = null
    const last = collect(source)
    send('data: b\n\n')
    await until(() => last.length === 1)
    expect(seen).toEqual(['listener:a', 'handler:a'])
  })

  it('close() in onopen prevents every message; listener objects and once work', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS).write('data: 1\n\ndata: 2\n\n')
    })
    const closing = open(`${server.origin}/`)
    const never = collect(closing)
    closing.onopen = () => closing.close()
    await (await server.request(0)).closed
    const source = open(`${server.origin}/`)
    const seen: string[] = []
    source.addEventListener('message', {
      handleEvent: (e: MessageEvent<string>) => seen.push(`obj:${e.data}`),
    })
    source.addEventListener('message', (e) => seen.push(`once:${e.data}`), { once: true })
    await until(() => seen.length === 3)
    expect(never).toEqual([])
    expect(closing.readyState).toBe(EventSource.CLOSED)
    expect(seen).toEqual(['obj:1', 'once:1', 'obj:2'])
  })

  it('close() stops delivery at once, even between two events of one chunk', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write('data: 1\n\ndata: 2\n\ndata: 3\n\n')
    })
    const source = open(`${server.origin}/`)
    const seen: string[] = []
    source.onmessage = (event) => {
      seen.push(event.data)
      if (event.data === '1') source.close()
    }
    await until(() => seen.length > 0)
    await server.requests[0]?.closed
    expect(seen).toEqual(['1'])
    expect(source.readyState).toBe(EventSource.CLOSED)
  })
})

describe('EventSource processing model', () => {
  it('reconnects after a normal end of body, sending Last-Event-ID, with an error event in CONNECTING', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      if (index === 0) res.end('id: 7\ndata: first\n\n')
      else res.write(`data: again\n\n`)
    })
    const source = open(`${server.origin}/`, fast)
    const messages = collect(source)
    const errors: [number, ConnectionErrorEvent][] = []
    source.onerror = (event) => errors.push([source.readyState, event])
    await until(() => messages.length === 2)
    expect(server.requests[1]?.headers['last-event-id']).toBe('7')
    expect(messages[1]?.lastEventId).toBe('7')
    expect(errors).toHaveLength(1)
    const [state, event] = errors[0] ?? []
    expect(state).toBe(EventSource.CONNECTING)
    expect(event?.fatal).toBe(false)
    expect(event?.error.code).toBe('HERALD_CLIENT_ENDED')
    expect(source.readyState).toBe(EventSource.OPEN)
  })

  it('keeps the last event ID string as the spec says: empty id clears it, an ID-only block sets it', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      if (index === 0) res.end('id: 1\ndata: a\n\nid\ndata: b\n\n')
      else if (index === 1) res.end('id: 9\n\ndata: c\n\n')
      else res.write('data: d\n\n')
    })
    const source = open(`${server.origin}/`, fast)
    const seen: string[] = []
    source.onmessage = (event) =>
      seen.push(`${event.data}:${event.lastEventId}:${source.lastEventId}`)
    await until(() => seen.length === 4)
    expect(seen).toEqual(['a:1:1', 'b::', 'c:9:9', 'd:9:9'])
    expect(server.requests.map((r) => r.headers['last-event-id'])).toEqual([
      undefined,
      undefined,
      '9',
    ])
  })

  it('reconnects after a network error (connection reset mid-stream)', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write(`id: ${index}\ndata: ${index}\n\n`)
      if (index === 0) setImmediate(() => res.socket?.destroy())
    })
    const source = open(`${server.origin}/`, fast)
    const messages = collect(source)
    const error = once<ConnectionErrorEvent>(source, 'error')
    await until(() => messages.length === 2)
    expect((await error).error.code).toBe('HERALD_CLIENT_NETWORK')
    expect(server.requests[1]?.headers['last-event-id']).toBe('0')
  })

  it('honours retry: as the floor of the reconnection delay', async () => {
    const retry = 300
    let endedAt = 0
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      if (index === 0) {
        res.end(`retry: ${retry}\ndata: x\n\n`)
        endedAt = performance.now()
      }
    })
    const source = open(`${server.origin}/`, { backoff: { initialMs: 0, maxMs: 0 } })
    const error = await once<ConnectionErrorEvent>(source, 'error')
    expect(error.delayMs).toBe(retry)
    await server.request(1)
    // A lower bound only: a timer never fires early (1 ms of clock rounding aside).
    expect(performance.now() - endedAt).toBeGreaterThanOrEqual(retry - 1)
  })

  it('clamps a retry: beyond what a timer holds instead of reconnecting at once', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.end('retry: 3000000000\ndata: x\n\n')
    })
    const source = open(`${server.origin}/`, fast)
    const error = await once<ConnectionErrorEvent>(source, 'error')
    // 2^31 - 1 ms: a longer timer would fire after 1 ms and hammer the server.
    expect(error.delayMs).toBe(2 ** 31 - 1)
    source.close()
    expect(server.requests).toHaveLength(1)
  })

  it('sends a non-ASCII last event ID as UTF-8 and keeps reconnecting', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      if (index === 0) res.end('id: café-日本\ndata: a\n\n')
      else res.write('data: b\n\n')
    })
    const source = open(`${server.origin}/`, fast)
    const messages = collect(source)
    await until(() => messages.length === 2)
    // node:http hands header values over as one character per byte.
    const raw = server.requests[1]?.headers['last-event-id'] as string
    expect(Buffer.from(raw, 'latin1').toString('utf8')).toBe('café-日本')
  })

  it('refuses static headers that no request could carry, at construction', () => {
    expect(
      () => new EventSource('http://127.0.0.1:9/', { headers: { 'x-token': 'a\nb' } }),
    ).toThrow(TypeError)
  })

  it('ends the source on 204 No Content, without reconnecting', async () => {
    const server = await serve(({ res }) => res.writeHead(204).end())
    const source = open(`${server.origin}/`, fast)
    const error = await once<ConnectionErrorEvent>(source, 'error')
    expect(source.readyState).toBe(EventSource.CLOSED)
    expect(error.fatal).toBe(true)
    expect(error.error.code).toBe('HERALD_CLIENT_HTTP_STATUS')
    expect(error.error.status).toBe(204)
    expect(server.requests).toHaveLength(1)
  })

  it.each([404, 401, 500, 503])(
    'fails the connection on HTTP %i, as the specification says',
    async (status) => {
      const server = await serve(({ res }) => res.writeHead(status).end('nope'))
      const source = open(`${server.origin}/`, fast)
      const error = await once<ConnectionErrorEvent>(source, 'error')
      expect(source.readyState).toBe(EventSource.CLOSED)
      expect(isHeraldError(error.error, 'HERALD_CLIENT_HTTP_STATUS')).toBe(true)
      expect(error.error.status).toBe(status)
      expect(server.requests).toHaveLength(1)
    },
  )

  it('fails the connection on a wrong Content-Type', async () => {
    const server = await serve(({ res }) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>login</h1>'),
    )
    const source = open(`${server.origin}/`, fast)
    const error = await once<ConnectionErrorEvent>(source, 'error')
    expect(source.readyState).toBe(EventSource.CLOSED)
    expect(error.error.code).toBe('HERALD_CLIENT_CONTENT_TYPE')
    expect(server.requests).toHaveLength(1)
  })

  it('accepts a Content-Type with parameters, in any case', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, { 'content-type': 'Text/Event-Stream; charset=utf-8' })
      res.write('data: ok\n\n')
    })
    const source = open(`${server.origin}/`)
    const messages = collect(source)
    await until(() => messages.length === 1)
  })

  it('follows redirects, and events carry the final origin', async () => {
    const target = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write('data: moved\n\n')
    })
    const server = await serve(({ res }) =>
      res.writeHead(307, { location: `${target.origin}/events` }).end(),
    )
    const source = open(`${server.origin}/old`)
    const messages = collect(source)
    await until(() => messages.length === 1)
    expect(messages[0]?.origin).toBe(target.origin)
    expect(target.requests[0]?.url).toBe('/events')
  })

  it('retries 5xx and 429 with retryServerErrors, honouring Retry-After', async () => {
    const server = await serve(({ index, res }) => {
      if (index === 0) res.writeHead(503).end()
      else if (index === 1) res.writeHead(429, { 'retry-after': '2' }).end()
      else res.writeHead(200, SSE_HEADERS).write('data: finally\n\n')
    })
    const source = open(`${server.origin}/`, { ...fast, retryServerErrors: true })
    const errors: ConnectionErrorEvent[] = []
    source.onerror = (event) => {
      errors.push(event)
      // Do not sit out the two seconds: the delay is what is being checked.
      if (errors.length === 2) source.close()
    }
    await until(() => errors.length === 2)
    expect(errors.map((e) => [e.error.status, e.fatal])).toEqual([
      [503, false],
      [429, false],
    ])
    expect(errors[1]?.delayMs).toBeGreaterThanOrEqual(2000)
  })
})

describe('EventSource options', () => {
  it('calls the headers function before every attempt (a rotated token is used)', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      if (index < 2) res.end(`id: ${index}\ndata: ${index}\n\n`)
    })
    let calls = 0
    const source = open(`${server.origin}/`, {
      ...fast,
      headers: async () => ({ authorization: `Bearer token-${++calls}`, 'x-static': 'yes' }),
    })
    await server.request(2)
    expect(server.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-2',
      'Bearer token-3',
    ])
    expect(server.requests[2]?.headers['x-static']).toBe('yes')
    expect(source.readyState).not.toBe(EventSource.CLOSED)
  })

  it('reports a failing headers function and retries', async () => {
    const server = await serve(({ res }) => res.writeHead(200, SSE_HEADERS).write('data: x\n\n'))
    let calls = 0
    const source = open(`${server.origin}/`, {
      ...fast,
      headers: () => {
        if (++calls === 1) throw new Error('token service down')
        return { authorization: 'Bearer ok' }
      },
    })
    const error = await once<ConnectionErrorEvent>(source, 'error')
    expect(error.error.code).toBe('HERALD_CLIENT_HEADERS')
    expect((error.error.cause as Error).message).toBe('token service down')
    await server.request(0)
    expect(server.requests[0]?.headers.authorization).toBe('Bearer ok')
  })

  it('uses a custom fetch, called detached', async () => {
    const server = await serve(({ res }) => res.writeHead(200, SSE_HEADERS).write('data: x\n\n'))
    const urls: string[] = []
    const source = open(`${server.origin}/`, {
      fetch(this: unknown, input, init) {
        urls.push(String(input))
        expect(this).toBeUndefined()
        return fetch(input, init)
      },
    })
    const messages = collect(source)
    await until(() => messages.length === 1)
    expect(urls).toEqual([`${server.origin}/`])
  })

  it('sends initialLastEventId on the first attempt', async () => {
    const server = await serve(({ res }) => res.writeHead(200, SSE_HEADERS).write(': hi\n\n'))
    open(`${server.origin}/`, { initialLastEventId: '41' })
    expect((await server.request(0)).headers['last-event-id']).toBe('41')
  })

  it('can send the last event ID as a query parameter instead (no CORS preflight)', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      if (index === 0) res.end('id: 8\ndata: x\n\n')
      else res.write(': resumed\n\n')
    })
    open(`${server.origin}/events?topic=a&lastEventId=stale`, {
      ...fast,
      initialLastEventId: '5',
      lastEventIdParam: 'lastEventId',
    })
    await server.request(1)
    expect(server.requests.map((r) => [r.url, r.headers['last-event-id']])).toEqual([
      ['/events?topic=a&lastEventId=5', undefined],
      ['/events?topic=a&lastEventId=8', undefined],
    ])
  })

  it('detects a stalled connection and reconnects with Last-Event-ID', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      // Then silence, with the socket left open: a dead proxy, a half-open TCP connection.
      res.write(`id: ${index + 1}\ndata: ${index}\n\n`)
    })
    const source = open(`${server.origin}/`, { ...fast, inactivityTimeoutMs: 150 })
    const error = await once<ConnectionErrorEvent>(source, 'error')
    expect(error.error.code).toBe('HERALD_CLIENT_STALLED')
    expect(error.fatal).toBe(false)
    await server.requests[0]?.closed
    expect((await server.request(1)).headers['last-event-id']).toBe('1')
  })

  it('keeps a connection that sends heartbeats within the inactivity timeout', async () => {
    let beats = 0
    const server = await serve(async ({ res, closed }) => {
      res.writeHead(200, SSE_HEADERS)
      const timer = setInterval(() => {
        beats++
        res.write(':\n\n')
      }, 40)
      await closed
      clearInterval(timer)
    })
    const source = open(`${server.origin}/`, { ...fast, inactivityTimeoutMs: 1000 })
    const errors = collect(source, 'error')
    await once(source, 'open')
    // 30 heartbeats span 1.2 timeouts: a watchdog that ignored bytes would have fired.
    await until(() => beats >= 30)
    expect(errors).toEqual([])
    expect(server.requests).toHaveLength(1)
  })

  it('gives up after maxAttempts consecutive failures', async () => {
    const server = await serve(({ req }) => req.socket.destroy())
    const source = open(`${server.origin}/`, { ...fast, maxAttempts: 3 })
    const errors: ConnectionErrorEvent[] = []
    source.onerror = (event) => errors.push(event)
    await until(() => source.readyState === EventSource.CLOSED)
    expect(errors.map((e) => [e.error.code, e.fatal])).toEqual([
      ['HERALD_CLIENT_NETWORK', false],
      ['HERALD_CLIENT_NETWORK', false],
      ['HERALD_CLIENT_MAX_ATTEMPTS', true],
    ])
    expect(isHeraldError(errors[2]?.error.cause, 'HERALD_CLIENT_NETWORK')).toBe(true)
    expect(server.requests).toHaveLength(3)
  })

  it('counts consecutive failures only: an attempt that receives bytes resets the count', async () => {
    const server = await serve(({ index, req, res }) => {
      if (index % 2 === 0) req.socket.destroy()
      else res.writeHead(200, SSE_HEADERS).end(`id: ${index}\ndata: ${index}\n\n`)
    })
    const source = open(`${server.origin}/`, { ...fast, maxAttempts: 2 })
    await server.request(7)
    expect(source.readyState).not.toBe(EventSource.CLOSED)
  })

  it('grows the backoff window exponentially up to maxMs', async () => {
    const server = await serve(({ req }) => req.socket.destroy())
    const source = open(`${server.origin}/`, { backoff: { initialMs: 2, maxMs: 16 } })
    const delays: number[] = []
    source.onerror = (event) => {
      delays.push(event.delayMs ?? -1)
      if (delays.length === 8) source.close()
    }
    await until(() => delays.length === 8)
    delays.forEach((delay, n) => {
      expect(delay).toBeGreaterThanOrEqual(0)
      expect(delay).toBeLessThan(Math.min(16, 2 * 2 ** n))
    })
  })

  it('does not re-send a POST, unless retryNonIdempotent', async () => {
    const server = await serve(({ res }) => res.writeHead(200, SSE_HEADERS).end('data: done\n\n'))
    const post = open(`${server.origin}/`, { ...fast, method: 'POST', body: '{"q":1}' })
    const error = await once<ConnectionErrorEvent>(post, 'error')
    expect(error.fatal).toBe(true)
    expect(error.error.code).toBe('HERALD_CLIENT_ENDED')
    expect(post.readyState).toBe(EventSource.CLOSED)
    expect(server.requests.map((r) => [r.method, r.body])).toEqual([['POST', '{"q":1}']])

    const again = open(`${server.origin}/`, {
      ...fast,
      method: 'post',
      body: 'x',
      retryNonIdempotent: true,
    })
    await server.request(2)
    again.close()
    expect(server.requests[2]?.method).toBe('POST')
  })
})
