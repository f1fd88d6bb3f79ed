/**
 * subscribe() against a real node:http server: reconnection, dedupe, JSON and Standard
 * Schema validation (zod and valibot), abort, fatal errors, backpressure.
 */
import { type HeraldError, isHeraldError } from '@herald/protocol'
import * as v from 'valibot'
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import {
  type StandardSchemaV1,
  type SubscribeOptions,
  type SubscriptionEvent,
  subscribe,
} from '../src/index.js'
import { type Handler, SSE_HEADERS, startServer, until } from './sse-server.js'

const fast = { backoff: { initialMs: 1, maxMs: 1 } } satisfies SubscribeOptions
const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function serve(handler: Handler) {
  const server = await startServer(handler)
  cleanups.push(() => server.close())
  return server
}

function controller(): AbortController {
  const abort = new AbortController()
  cleanups.push(() => abort.abort())
  return abort
}

/** Takes `count` events from an async iterable, then stops (break). */
async function take<T>(iterable: AsyncIterable<T>, count: number): Promise<T[]> {
  const out: T[] = []
  if (count === 0) return out
  for await (const item of iterable) {
    out.push(item)
    if (out.length === count) break
  }
  return out
}

describe('subscribe', () => {
  it('yields events in order, and break closes the request', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write('id: 1\ndata: a\n\nevent: tick\ndata: b\n\ndata: c\nid: 2\n\n')
    })
    const events = await take(subscribe(`${server.origin}/events?topic=t`), 3)
    expect(events).toEqual([
      { type: 'message', data: 'a', lastEventId: '1' },
      { type: 'tick', data: 'b', lastEventId: '1' },
      { type: 'message', data: 'c', lastEventId: '2' },
    ])
    await server.requests[0]?.closed
    expect(server.requests[0]?.url).toBe('/events?topic=t')
  })

  it('ends when the signal aborts, even while waiting for an event', async () => {
    const server = await serve(({ res }) => res.writeHead(200, SSE_HEADERS).flushHeaders())
    const abort = controller()
    const subscription = subscribe(`${server.origin}/`, { signal: abort.signal })
    const next = subscription.next()
    await server.request(0)
    abort.abort()
    await expect(next).resolves.toEqual({ value: undefined, done: true })
    await server.requests[0]?.closed
    await expect(subscription.next()).resolves.toEqual({ value: undefined, done: true })
  })

  it('does not connect at all with an already aborted signal', async () => {
    const server = await serve(({ res }) => res.writeHead(200, SSE_HEADERS).end())
    const subscription = subscribe(`${server.origin}/`, { signal: AbortSignal.abort() })
    await expect(subscription.next()).resolves.toMatchObject({ done: true })
    expect(server.requests).toHaveLength(0)
  })

  it('reconnects after 5xx, 429, network errors and stalls, resuming with Last-Event-ID', async () => {
    const server = await serve(({ index, res, req }) => {
      switch (index) {
        case 0:
          res.writeHead(200, SSE_HEADERS).end('id: 1\ndata: one\n\n')
          break
        case 1:
          res.writeHead(500).end()
          break
        case 2:
          res.writeHead(429).end()
          break
        case 3:
          req.socket.destroy()
          break
        case 4:
          // One event, then silence: stalled.
          res.writeHead(200, SSE_HEADERS).write('id: 2\ndata: two\n\n')
          break
        default:
          res.writeHead(200, SSE_HEADERS).write('id: 3\ndata: three\n\n')
      }
    })
    const errors: HeraldError[] = []
    const events = await take(
      subscribe(`${server.origin}/`, {
        ...fast,
        inactivityTimeoutMs: 200,
        onError: (error) => errors.push(error),
      }),
      3,
    )
    expect(events.map((e) => e.data)).toEqual(['one', 'two', 'three'])
    expect(server.requests.map((r) => r.headers['last-event-id'])).toEqual([
      undefined,
      '1',
      '1',
      '1',
      '1',
      '2',
    ])
    expect(errors.map((e) => [e.code, e.status])).toEqual([
      ['HERALD_CLIENT_HTTP_STATUS', 500],
      ['HERALD_CLIENT_HTTP_STATUS', 429],
      ['HERALD_CLIENT_NETWORK', undefined],
      ['HERALD_CLIENT_STALLED', undefined],
    ])
  })

  it('yields each event ID once when a reconnect replays events already seen', async () => {
    // A server that replays inclusively, and from further back than asked.
    const log = ['1', '2', '3', '4', '5']
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      const from = index === 0 ? 0 : 1
      const to = index === 0 ? 3 : 5
      for (const id of log.slice(from, to)) res.write(`id: ${id}\ndata: event ${id}\n\n`)
      // An event without an ID of its own is never taken for a duplicate.
      res.write('data: no id\n\n')
      if (index === 0) res.end()
    })
    const events = await take(subscribe(`${server.origin}/`, fast), 7)
    expect(events.map((e) => `${e.lastEventId}:${e.data}`)).toEqual([
      '1:event 1',
      '2:event 2',
      '3:event 3',
      '3:no id',
      '4:event 4',
      '5:event 5',
      '5:no id',
    ])
    expect(server.requests[1]?.headers['last-event-id']).toBe('3')
  })

  it('does not deduplicate events that inherit their ID from an id-only block', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      // Both connections set the last event ID with an id-only block, then send an event
      // without an id of its own: two different events, neither may be dropped.
      res.end(index === 0 ? 'id: 9\n\ndata: a\n\n' : 'id: 9\n\ndata: c\n\n')
    })
    const events = await take(subscribe(`${server.origin}/`, fast), 2)
    expect(events.map((e) => e.data)).toEqual(['a', 'c'])
  })

  it('yields nothing that an async schema validates after the subscription ended', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write('id: 1\ndata: {"n":1}\n\n')
    })
    let called = false
    let settle = (): void => {}
    const validated = new Promise<void>((resolve) => {
      settle = resolve
    })
    const schema: StandardSchemaV1<unknown> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => {
          called = true
          await validated
          return { value }
        },
      },
    }
    const abort = controller()
    const subscription = subscribe(`${server.origin}/`, { ...fast, schema, signal: abort.signal })
    const iterator = subscription[Symbol.asyncIterator]()
    await until(() => called)
    abort.abort()
    settle()
    await validated
    // Let the validation's continuation run before asking for the next event.
    await new Promise((resolve) => setImmediate(resolve))
    expect(await iterator.next()).toEqual({ value: undefined, done: true })
  })

  it('remembers a bounded window of IDs (dedupeWindow), or none', async () => {
    // Even requests get the first stream, odd ones the replay: one pair per subscription.
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS)
      if (index % 2 === 0) res.end('id: a\ndata: 1\n\nid: b\ndata: 2\n\nid: c\ndata: 3\n\n')
      else res.write('id: a\ndata: 1 again\n\nid: c\ndata: 3 again\n\nid: d\ndata: 4\n\n')
    })
    const windowed = await take(subscribe(`${server.origin}/`, { ...fast, dedupeWindow: 2 }), 5)
    // "a" fell out of the two-ID window; "c" did not.
    expect(windowed.map((e) => e.data)).toEqual(['1', '2', '3', '1 again', '4'])
    const all = await take(subscribe(`${server.origin}/`, { ...fast, dedupeWindow: 0 }), 6)
    expect(all.map((e) => e.data)).toEqual(['1', '2', '3', '1 again', '3 again', '4'])
    expect(server.requests).toHaveLength(4)
  })

  it('parses JSON, skipping and reporting an event that is not JSON', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write('id: 1\ndata: {"n":1}\n\nid: 2\ndata: {oops\n\nid: 3\ndata: [3]\n\n')
    })
    const errors: HeraldError[] = []
    const subscription = subscribe<{ n: number } | number[]>(`${server.origin}/`, {
      json: true,
      onError: (error) => errors.push(error),
    })
    const events = await take(subscription, 2)
    expect(events.map((e) => e.data)).toEqual([{ n: 1 }, [3]])
    expect(errors).toHaveLength(1)
    expect(isHeraldError(errors[0], 'HERALD_CLIENT_INVALID_JSON')).toBe(true)
    expect(errors[0]?.cause).toBeInstanceOf(SyntaxError)
  })

  const schemas: [string, StandardSchemaV1<unknown, { price: number }>][] = [
    ['zod', z.object({ price: z.number() })],
    ['valibot', v.object({ price: v.number() })],
  ]
  it.each(schemas)('validates with a Standard Schema validator (%s)', async (_, schema) => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write('data: {"price":1}\n\ndata: {"price":"free"}\n\ndata: {"price":3}\n\n')
    })
    const errors: HeraldError[] = []
    const subscription = subscribe(`${server.origin}/`, {
      schema,
      onError: (error) => errors.push(error),
    })
    expectTypeOf(subscription).toExtend<AsyncIterable<SubscriptionEvent<{ price: number }>>>()
    const events = await take(subscription, 2)
    expect(events.map((e) => e.data.price)).toEqual([1, 3])
    expect(errors.map((e) => e.code)).toEqual(['HERALD_CLIENT_SCHEMA'])
    expect(Array.isArray(errors[0]?.cause)).toBe(true)
  })

  it('uses the value a schema returns, and waits for an async schema in order', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write('data: "2026-01-01"\n\ndata: "slow"\n\ndata: "x"\n\n')
    })
    const asyncSchema: StandardSchemaV1<unknown, string> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => {
          if (value === 'slow') await new Promise((resolve) => setTimeout(resolve, 20))
          return typeof value === 'string' ? { value: value.toUpperCase() } : { issues: [] }
        },
      },
    }
    const upper = await take(subscribe(`${server.origin}/`, { schema: asyncSchema }), 3)
    expect(upper.map((e) => e.data)).toEqual(['2026-01-01', 'SLOW', 'X'])
    const dated = await take(
      subscribe(`${server.origin}/`, { schema: z.coerce.date(), dedupeWindow: 0 }),
      1,
    )
    expect(dated[0]?.data).toBeInstanceOf(Date)
  })

  it('reports the hub herald.reset to onError (never to the schema) and goes on', async () => {
    const reset = { reason: 'expired', lastEventId: '3', oldestId: '8', latestId: '10' }
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write(`event: herald.reset\nid: 10\ndata: ${JSON.stringify(reset)}\n\n`)
      res.write('id: 11\ndata: {"price":1}\n\n')
    })
    const errors: HeraldError[] = []
    const events = await take(
      subscribe(`${server.origin}/`, {
        schema: z.object({ price: z.number() }),
        initialLastEventId: '3',
        onError: (error) => errors.push(error),
      }),
      1,
    )
    expect(events).toEqual([{ type: 'message', data: { price: 1 }, lastEventId: '11' }])
    expect(errors.map((e) => [e.code, e.cause])).toEqual([['HERALD_CLIENT_RESET', reset]])
  })

  it('keeps going when the onError callback throws', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.write('data: bad\n\ndata: 1\n\n')
    })
    const events = await take(
      subscribe(`${server.origin}/`, {
        json: true,
        onError: () => {
          throw new Error('bug in the consumer')
        },
      }),
      1,
    )
    expect(events[0]?.data).toBe(1)
  })

  it('throws a fatal error (404) from the iterator, once', async () => {
    const server = await serve(({ res }) => res.writeHead(404).end())
    const errors: HeraldError[] = []
    const subscription = subscribe(`${server.origin}/`, {
      ...fast,
      onError: (e) => errors.push(e),
    })
    const failure = await subscription.next().catch((error: unknown) => error)
    expect(isHeraldError(failure, 'HERALD_CLIENT_HTTP_STATUS')).toBe(true)
    expect((failure as HeraldError).status).toBe(404)
    await expect(subscription.next()).resolves.toMatchObject({ done: true })
    expect(errors).toEqual([])
    expect(server.requests).toHaveLength(1)
  })

  it('throws a wrong Content-Type, and completes on 204', async () => {
    const html = await serve(({ res }) => res.writeHead(200, { 'content-type': 'text/html' }).end())
    await expect(take(subscribe(`${html.origin}/`), 1)).rejects.toMatchObject({
      code: 'HERALD_CLIENT_CONTENT_TYPE',
    })
    const done = await serve(({ index, res }) => {
      if (index === 0) res.writeHead(200, SSE_HEADERS).end('id: 1\ndata: last\n\n')
      else res.writeHead(204).end()
    })
    const events = await take(subscribe(`${done.origin}/`, fast), 2)
    expect(events.map((e) => e.data)).toEqual(['last'])
    expect(done.requests).toHaveLength(2)
  })

  it('gives up after maxAttempts, throwing HERALD_CLIENT_MAX_ATTEMPTS', async () => {
    const server = await serve(({ res }) => res.writeHead(503).end())
    await expect(
      take(subscribe(`${server.origin}/`, { ...fast, maxAttempts: 4 }), 1),
    ).rejects.toMatchObject({
      code: 'HERALD_CLIENT_MAX_ATTEMPTS',
      cause: { code: 'HERALD_CLIENT_HTTP_STATUS', status: 503 },
    })
    expect(server.requests).toHaveLength(4)
  })

  it('runs a POST stream once and completes at its end', async () => {
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      res.end('data: token 1\n\ndata: token 2\n\n')
    })
    const events = await take(
      subscribe(`${server.origin}/complete`, {
        ...fast,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'hi' }),
      }),
      10,
    )
    expect(events.map((e) => e.data)).toEqual(['token 1', 'token 2'])
    expect(server.requests.map((r) => [r.method, r.body])).toEqual([['POST', '{"prompt":"hi"}']])
  })

  it('holds the stream for a slow consumer and delivers everything in order', async () => {
    const count = 2000
    const server = await serve(({ res }) => {
      res.writeHead(200, SSE_HEADERS)
      for (let i = 1; i <= count; i++) res.write(`id: ${i}\ndata: ${i}\n\n`)
    })
    const subscription = subscribe(`${server.origin}/`, { initialLastEventId: '0' })
    const seen: number[] = []
    for await (const event of subscription) {
      seen.push(Number(event.data))
      if (seen.length % 100 === 0) await new Promise((resolve) => setImmediate(resolve))
      if (seen.length === count) break
    }
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => i + 1))
    expect(subscription.lastEventId).toBe(String(count))
    expect(server.requests[0]?.headers['last-event-id']).toBe('0')
  })

  it('calls an async headers function before every attempt', async () => {
    const server = await serve(({ index, res }) => {
      res.writeHead(200, SSE_HEADERS).end(`id: ${index}\ndata: ${index}\n\n`)
    })
    let token = 0
    await take(
      subscribe(`${server.origin}/`, {
        ...fast,
        headers: async () => {
          await Promise.resolve()
          return [['authorization', `Bearer ${++token}`]]
        },
      }),
      3,
    )
    expect(server.requests.slice(0, 3).map((r) => r.headers.authorization)).toEqual([
      'Bearer 1',
      'Bearer 2',
      'Bearer 3',
    ])
  })

  it('validates its options', () => {
    expect(() => subscribe('http://127.0.0.1:9/', { dedupeWindow: -1 })).toThrow(TypeError)
    expect(() =>
      subscribe('http://127.0.0.1:9/', {
        schema: {} as StandardSchemaV1,
        signal: AbortSignal.abort(),
      }),
    ).toThrow(/schema/)
  })
})
