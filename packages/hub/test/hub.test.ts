/**
 * Library-level behaviour of createHub on a real node:http server: slow consumers, CORS,
 * hub.publish, drain, readiness, store failures.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import type { EventStore, Hub, HubOptions } from '@herald/hub'
import { createHub, createMemoryEventStore } from '@herald/hub'
import { HeraldError } from '@herald/protocol'
import { openEventStream } from '@herald/testkit'
import { INVALID_SPAN_CONTEXT, type Tracer, type TracerProvider, trace } from '@opentelemetry/api'
import { afterEach, describe, expect, it } from 'vitest'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function start(
  options: Partial<HubOptions> = {},
): Promise<{ hub: Hub; url: string; store: EventStore; server: Server }> {
  const store = options.store ?? createMemoryEventStore()
  const hub = createHub({ store, stream: { heartbeatMs: 0 }, ...options })
  const server = createServer((req, res) => hub.handleNode(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    await hub.close()
    await store.close().catch(() => {})
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { hub, store, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

async function metric(hub: Hub, name: string): Promise<number> {
  const text = await hub.metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

/** A tracer provider whose tracer records the name of every span started (spans are no-ops). */
function recordingProvider(spans: string[]): TracerProvider {
  const tracer = {
    startSpan(name: string) {
      spans.push(name)
      return trace.wrapSpanContext(INVALID_SPAN_CONTEXT)
    },
  } as unknown as Tracer
  return { getTracer: () => tracer }
}

async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

describe('createHub', () => {
  it('gives subscribers with the same topics one shared topics array, and delivers to each', async () => {
    const { hub, url } = await start()
    const a = await openEventStream(`${url}/events?topic=x&topic=y/*`)
    const b = await openEventStream(`${url}/events?topic=x&topic=y/*`)
    const c = await openEventStream(`${url}/events?topic=x`)
    await eventually(async () => hub.subscribers === 3, 'the subscribers')
    const topics = hub.listClients({}).clients.map((client) => client.topics)
    expect(topics).toEqual([['x', 'y/*'], ['x', 'y/*'], ['x']])
    expect(topics[0]).toBe(topics[1])
    expect(topics[2]).not.toBe(topics[0])
    await hub.publish({ topic: 'y/1', data: 'one' })
    expect((await a.count(1))[0]?.data).toBe('one')
    expect((await b.count(1))[0]?.data).toBe('one')
    // The last of a list leaves: a new subscriber starts a new shared list, and gets events.
    a.close()
    b.close()
    await eventually(async () => hub.subscribers === 1, 'two leaving')
    const d = await openEventStream(`${url}/events?topic=x&topic=y/*`)
    await eventually(async () => hub.subscribers === 2, 'the new subscriber')
    await hub.publish({ topic: 'x', data: 'two' })
    expect((await d.count(1))[0]?.data).toBe('two')
    expect((await c.count(1))[0]?.data).toBe('two')
    c.close()
    d.close()
  })

  it('publishes from code (hub.publish) to HTTP subscribers', async () => {
    const { hub, url } = await start()
    const stream = await openEventStream(`${url}/events?topic=lib/*`)
    await eventually(async () => hub.subscribers === 1, 'the subscriber')
    const [event] = await hub.publish({ topic: 'lib/1', data: { ok: true }, event: 'note' })
    expect((await stream.count(1))[0]).toEqual({
      type: 'note',
      data: '{"ok":true}',
      lastEventId: event?.id,
    })
    const batch = await hub.publish([
      { topic: 'lib/2', data: 'a' },
      { topic: 'lib/3', data: 'b' },
    ])
    expect(batch.map((e) => e.topic)).toEqual(['lib/2', 'lib/3'])
    await expect(hub.publish({ topic: 'lib/*', data: 'x' })).rejects.toMatchObject({
      code: 'HERALD_INVALID_TOPIC',
    })
    stream.close()
  })

  it('with no subscriber, still times every publish to the tail (herald_publish_to_write_seconds), then delivers once one comes', async () => {
    const { hub, url } = await start()
    for (let i = 0; i < 3; i++) {
      const answer = await fetch(`${url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'alone/t', data: String(i) }),
      })
      expect(answer.status).toBe(200)
    }
    await eventually(
      async () => (await metric(hub, 'herald_publish_to_write_seconds_count')) === 3,
      'three publish latencies',
    )
    expect(await metric(hub, 'herald_events_delivered_total')).toBe(0)
    const stream = await openEventStream(`${url}/events?topic=alone/t`)
    await eventually(async () => hub.subscribers === 1, 'the subscriber')
    await hub.publish({ topic: 'alone/t', data: 'now' })
    expect((await stream.count(1))[0]?.data).toBe('now')
    await eventually(
      async () => (await metric(hub, 'herald_publish_to_write_seconds_count')) === 4,
      'the fourth latency',
    )
    expect(await metric(hub, 'herald_events_delivered_total')).toBe(1)
    stream.close()
  })

  it('closes a subscriber that does not read (slow consumer) and counts it', async () => {
    const { hub, url } = await start({
      maxPayloadBytes: 64 * 1024,
      stream: { heartbeatMs: 0, maxQueueBytes: 192 * 1024 },
    })
    const { port } = new URL(url)
    const socket = connect(Number(port), '127.0.0.1')
    socket.write(
      `GET /events?topic=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
    )
    socket.pause() // never read: the kernel buffers fill, then the hub's queue
    cleanups.push(async () => socket.destroy())
    await eventually(async () => hub.subscribers === 1, 'the subscriber')
    const chunk = 'x'.repeat(60 * 1024)
    for (let i = 0; i < 400 && hub.subscribers > 0; i++) {
      await hub.publish({ topic: 'slow', data: chunk })
      await new Promise((resolve) => setImmediate(resolve))
    }
    await eventually(async () => hub.subscribers === 0, 'the slow consumer to be closed')
    expect(await metric(hub, 'herald_slow_consumers_closed_total')).toBeGreaterThanOrEqual(1)
  })

  it('delivers a largest-size event and a big batch without cutting the subscriber off', async () => {
    const { hub, url } = await start()
    const stream = await openEventStream(`${url}/events?topic=big`)
    await eventually(async () => hub.subscribers === 1, 'the subscriber')
    await hub.publish({ topic: 'big', data: 'x'.repeat(1024 * 1024 - 10) })
    const chunk = 'y'.repeat(4096)
    await hub.publish(Array.from({ length: 300 }, () => ({ topic: 'big', data: chunk })))
    const events = await stream.count(301)
    expect(events[0]?.data.length).toBe(1024 * 1024 - 10)
    expect(hub.subscribers).toBe(1)
    expect(await metric(hub, 'herald_slow_consumers_closed_total')).toBe(0)
    stream.close()
  })

  it('replays a backlog many times the queue size, page by page, waiting for room', async () => {
    const { hub, url } = await start({
      maxPayloadBytes: 16 * 1024,
      stream: { heartbeatMs: 0, maxQueueBytes: 96 * 1024 },
    })
    const chunk = 'z'.repeat(4096)
    const stored = await hub.publish(
      Array.from({ length: 600 }, (_, i) => ({ topic: 'backlog', data: `${i}:${chunk}` })),
    )
    const stream = await openEventStream(`${url}/events?topic=backlog&lastEventId=earliest`)
    const events = await stream.count(600)
    expect(events.map((e) => e.lastEventId)).toEqual(stored.map((e) => e.id))
    expect(await metric(hub, 'herald_slow_consumers_closed_total')).toBe(0)
    stream.close()
  })

  it('answers CORS preflights for publish and allows listed origins only', async () => {
    const { url } = await start({
      cors: { origins: ['https://app.example.com'], credentials: true },
    })
    const preflight = await fetch(`${url}/publish`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true')
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/)
    const other = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { origin: 'https://evil.example.net', 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 't', data: 'x' }),
    })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
    const stream = await openEventStream(`${url}/events?topic=t`, {
      origin: 'https://app.example.com',
    })
    expect(stream.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    stream.close()
  })

  it('allows publishes from exactly the origins its streams allow (one CORS policy)', async () => {
    // Origins compare case-insensitively; a wildcard covers host labels only.
    const { url } = await start({
      cors: { origins: ['https://App.example.com', 'https://*.Example.org'] },
    })
    for (const [origin, allowed] of [
      ['https://app.example.com', true],
      ['https://a.b.example.org', true],
      ['https://other.example.com', false],
    ] as const) {
      const stream = await openEventStream(`${url}/events?topic=t`, { origin })
      const streamAllows = stream.headers.get('access-control-allow-origin') === origin
      stream.close()
      const preflight = await fetch(`${url}/publish`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      })
      const publish = await fetch(`${url}/publish`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 't', data: 'x' }),
      })
      expect([origin, streamAllows]).toEqual([origin, allowed])
      expect([origin, preflight.headers.get('access-control-allow-origin')]).toEqual([
        origin,
        allowed ? origin : null,
      ])
      expect([origin, publish.headers.get('access-control-allow-origin')]).toEqual([
        origin,
        allowed ? origin : null,
      ])
    }
  })

  it('drains streams and then reports not ready', async () => {
    const { hub, url } = await start()
    const stream = await openEventStream(`${url}/events?topic=t`)
    expect((await fetch(`${url}/readyz`)).status).toBe(200)
    await hub.drain({ deadlineMs: 100 })
    await stream.ended
    const ready = await fetch(`${url}/readyz`)
    expect(ready.status).toBe(503)
    expect(((await ready.json()) as { error: { code: string } }).error.code).toBe('HERALD_DRAINING')
  })

  it('answers 503 to publishes when the store is gone, and /readyz follows', async () => {
    const { url, store } = await start()
    await store.close()
    const response = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 't', data: 'x' }),
    })
    expect(response.status).toBe(503)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'HERALD_STORE_CLOSED',
    )
    expect((await fetch(`${url}/readyz`)).status).toBe(503)
  })

  it('serves the fetch handler directly (no framework)', async () => {
    const store = createMemoryEventStore()
    const hub = createHub({ store })
    cleanups.push(async () => {
      await hub.close()
      await store.close()
    })
    const response = await hub.fetch(
      new Request('http://hub.local/publish', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 't', data: 'x' }),
      }),
    )
    expect(response.status).toBe(200)
    const missing = await hub.fetch(new Request('http://hub.local/nope'))
    expect(missing.status).toBe(404)
    const forbidden = await hub.fetch(new Request('http://hub.local/events'))
    expect(forbidden.status).toBe(400)
  })

  it('records OpenTelemetry spans once the application registers a provider', async () => {
    const spans: string[] = []
    expect(trace.setGlobalTracerProvider(recordingProvider(spans))).toBe(true)
    cleanups.push(async () => trace.disable())
    const { url } = await start()
    await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 't', data: 'x' }),
    })
    const stream = await openEventStream(`${url}/events?topic=t&lastEventId=0`)
    await stream.count(1)
    stream.close()
    expect(spans).toContain('herald.publish')
    expect(spans).toContain('herald.subscribe')
  })

  it('records OpenTelemetry spans when the provider is registered after the hub started', async () => {
    const { url } = await start()
    const spans: string[] = []
    expect(trace.setGlobalTracerProvider(recordingProvider(spans))).toBe(true)
    cleanups.push(async () => trace.disable())
    const published = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 't', data: 'x' }),
    })
    expect(published.status).toBe(200)
    expect(spans).toEqual(['herald.publish'])
  })

  it('validates its options', () => {
    const store = createMemoryEventStore()
    expect(() => createHub({ store, maxPayloadBytes: 0 })).toThrow(/maxPayloadBytes/)
    expect(() =>
      createHub({ store, maxPayloadBytes: 1024 * 1024, stream: { maxQueueBytes: 1024 * 1024 } }),
    ).toThrow(/maxQueueBytes .* at least 2 x maxPayloadBytes/)
    expect(() => createHub({ store, publishRateLimit: { rate: -1 } })).toThrow(/publishRateLimit/)
    expect(() => createHub({} as HubOptions)).toThrow(/store/)
  })
})

/** A store whose backend can be cut off: reads, appends and health fail while `down`. */
function flaky(inner: EventStore): EventStore & { down: boolean } {
  const unavailable = () =>
    new HeraldError('HERALD_STORE_UNAVAILABLE', 'backend unreachable (test)', { status: 503 })
  const store: EventStore & { down: boolean } = {
    down: false,
    cursors: inner.cursors,
    append: (events) => (store.down ? Promise.reject(unavailable()) : inner.append(events)),
    read: (cursor, filter) =>
      store.down ? Promise.reject(unavailable()) : inner.read(cursor, filter),
    health: async () =>
      store.down ? { ok: false as const, reason: 'backend unreachable (test)' } : inner.health(),
    watch: (signal) => inner.watch(signal),
    close: () => inner.close(),
  }
  return store
}

describe('store outage', () => {
  it('pauses delivery, keeps streams open with heartbeats, answers 503 on /readyz, resumes without loss', async () => {
    const inner = createMemoryEventStore()
    const store = flaky(inner)
    const { hub, url } = await start({ store, stream: { heartbeatMs: 50 } })
    const stream = await openEventStream(`${url}/events?topic=o/*`)
    await eventually(async () => hub.subscribers === 1, 'the subscriber')
    await hub.publish({ topic: 'o/1', data: 'before' })
    await stream.count(1)
    store.down = true
    const refused = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'o/1', data: 'refused' }),
    })
    expect(refused.status).toBe(503)
    expect((await refused.json()).error.code).toBe('HERALD_STORE_UNAVAILABLE')
    const readyz = await fetch(`${url}/readyz`)
    expect(readyz.status).toBe(503)
    expect((await readyz.json()).error.code).toBe('HERALD_STORE_UNAVAILABLE')
    // Another node still reaches the backend and appends: this node must deliver those too.
    const elsewhere = await inner.append([
      { topic: 'o/2', data: 'during-1' },
      { topic: 'o/3', data: 'during-2' },
    ])
    // Several retry rounds of the tail while the backend is down: the stream stays open.
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(hub.subscribers).toBe(1)
    expect(hub.streams.size).toBe(1)
    store.down = false
    await eventually(async () => (await fetch(`${url}/readyz`)).status === 200, 'readiness')
    await hub.publish({ topic: 'o/1', data: 'after' })
    const events = await stream.count(4)
    expect(events.map((e) => e.data)).toEqual(['before', 'during-1', 'during-2', 'after'])
    expect(events[1]?.lastEventId).toBe(elsewhere[0]?.id)
    stream.close()
  })
})

describe('two nodes sharing a store', () => {
  it('delivers every event of both nodes to subscribers of both, once, in id order', async () => {
    const store = createMemoryEventStore()
    const a = await start({ store })
    const b = await start({ store })
    const streams = await Promise.all([
      openEventStream(`${a.url}/events?topic=c/*`),
      openEventStream(`${b.url}/events?topic=c/*`),
    ])
    await eventually(
      async () => a.hub.subscribers === 1 && b.hub.subscribers === 1,
      'the subscribers',
    )
    const published = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 === 0 ? a : b).hub.publish({ topic: `c/${i % 5}`, data: String(i) }),
      ),
    )
    const ids = published
      .flat()
      .map((e) => e.id)
      .sort()
    for (const stream of streams) {
      expect((await stream.count(200)).map((e) => e.lastEventId)).toEqual(ids)
      stream.close()
    }
  })

  it('delivers across nodes and resumes on either with one cursor', async () => {
    const store = createMemoryEventStore()
    const a = await start({ store })
    const b = await start({ store })
    const onB = await openEventStream(`${b.url}/events?topic=n/*`)
    await eventually(async () => b.hub.subscribers === 1, 'the subscriber on b')
    const published = await a.hub.publish([
      { topic: 'n/1', data: 'one' },
      { topic: 'n/2', data: 'two' },
    ])
    expect((await onB.count(2)).map((e) => e.data)).toEqual(['one', 'two'])
    onB.close()
    // The cursor b handed out resumes on a.
    const onA = await openEventStream(`${a.url}/events?topic=n/*`, {
      'last-event-id': published[0]?.id as string,
    })
    expect((await onA.count(1)).map((e) => e.data)).toEqual(['two'])
    onA.close()
  })
})

describe('publish answers', () => {
  it('answers publishes pipelined on one connection and spread over many, each with its own id, in order', async () => {
    // Answers of one event-loop turn are written together: each must still reach its own
    // request, in request order on a connection.
    const { url } = await start({ publishRateLimit: false })
    const { port } = new URL(url)
    const body = (i: number) => JSON.stringify({ topic: 'order/test', data: String(i) })
    const request = (i: number) =>
      `POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body(i))}\r\n\r\n${body(i)}`
    const pipelined = async (first: number, count: number): Promise<string[]> => {
      const socket = connect(Number(port), '127.0.0.1')
      let text = ''
      socket.setEncoding('utf8')
      let ids: string[] = []
      await new Promise<void>((resolve, reject) => {
        socket.on('data', (chunk: string) => {
          text += chunk
          ids = [...text.matchAll(/\{"id":"([^"]+)","ids"/g)].map((m) => m[1] as string)
          if (ids.length === count) resolve()
        })
        socket.on('error', reject)
        socket.write(Array.from({ length: count }, (_, i) => request(first + i)).join(''))
      })
      socket.destroy()
      return ids
    }
    const runs = await Promise.all([0, 1, 2, 3].map((c) => pipelined(c * 100, 20)))
    for (const ids of runs) {
      expect(ids).toHaveLength(20)
      // Ids are assigned in append order; a connection's requests were read in order.
      expect([...ids].sort()).toEqual(ids)
    }
    expect(new Set(runs.flat()).size).toBe(80)
  })
})
