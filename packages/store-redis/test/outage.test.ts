/**
 * The store against a private redis-server that the tests stop, freeze, flush and restart:
 * calls fail fast with HERALD_STORE_UNAVAILABLE while it is down, nothing is lost across a
 * restart with AOF, and a Redis that came back EMPTY never makes ids go backwards.
 */
import { isHeraldError } from '@herald/protocol'
import { type EventStore, type StoredEvent, tailLog } from '@herald/store'
import { type BackendServer, startRedisServer } from '@herald/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventStore } from '../src/index.js'

const ALL = ['**']

async function readAll(store: EventStore, cursor?: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = []
  let at = cursor
  for (;;) {
    const page = await store.read(at, { topics: ALL, limit: 500 })
    if (page.kind === 'reset') throw new Error(`reset: ${page.reason}`)
    out.push(...page.events)
    if (!page.more) return out
    at = page.cursor
  }
}

async function until<T>(fn: () => Promise<T>, ok: (value: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    try {
      const value = await fn()
      if (ok(value)) return value
    } catch (error) {
      if (Date.now() > end) throw error
    }
    if (Date.now() > end) throw new Error('condition not reached in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const stores: EventStore[] = []
function open(server: BackendServer, namespace = 'outage'): EventStore {
  const store = createRedisEventStore({
    url: server.url,
    namespace,
    // Generous: this machine is shared and loaded; the deadline checks allow for it.
    commandTimeoutMs: 1000,
    maxBackoffMs: 200,
  })
  stores.push(store)
  return store
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close()
})

describe('redis store: outages (private redis-server with AOF)', () => {
  let server: BackendServer
  beforeAll(async () => {
    server = await startRedisServer({ persistence: 'aof' })
  })
  afterAll(async () => {
    await server.dispose()
  })

  it('fails fast while Redis is down, then resumes with nothing lost', async () => {
    const store = open(server, 'down')
    const before = await store.append([{ topic: 'a', data: '1' }])
    await server.stop()
    const started = Date.now()
    const error = await store.append([{ topic: 'a', data: 'lost?' }]).catch((e: unknown) => e)
    expect(isHeraldError(error, 'HERALD_STORE_UNAVAILABLE')).toBe(true)
    expect((error as { status?: number }).status).toBe(503)
    expect(Date.now() - started).toBeLessThan(6000) // the deadline is 2 s; a hang would be unbounded
    expect((await store.health()).ok).toBe(false)
    await server.start()
    await until(
      () => store.health(),
      (h) => h.ok,
    )
    const after = await store.append([{ topic: 'a', data: '2' }])
    expect((await readAll(store)).map((e) => e.data)).toEqual(['1', '2'])
    expect(store.cursors.compare(before[0]?.id as string, after[0]?.id as string)).toBeLessThan(0)
  })

  it('answers within the deadline while Redis is frozen (slow), and recovers', async () => {
    const store = open(server, 'slow')
    await store.append([{ topic: 'a', data: '1' }])
    server.pause()
    try {
      const started = Date.now()
      const error = await store.append([{ topic: 'a', data: '2' }]).catch((e: unknown) => e)
      expect(isHeraldError(error, 'HERALD_STORE_UNAVAILABLE')).toBe(true)
      expect(Date.now() - started).toBeLessThan(6000) // the deadline is 2 s; a hang would be unbounded
      const health = await store.health()
      expect(health.ok).toBe(false)
    } finally {
      server.resume()
    }
    // The timed-out append may still have been applied once Redis woke: at most once.
    const data = (
      await until(
        () => readAll(store),
        (e) => e.length >= 1,
      )
    ).map((e) => e.data)
    expect(data[0]).toBe('1')
    expect(data.length).toBeLessThanOrEqual(2)
    await store.append([{ topic: 'a', data: '3' }])
    expect((await readAll(store)).at(-1)?.data).toBe('3')
  })

  it('keeps one tail going across a restart: every event once, in order', async () => {
    const writer = open(server, 'tail')
    const reader = open(server, 'tail')
    const [first] = await writer.append([{ topic: 't', data: 'start' }])
    const stop = new AbortController()
    const seen: StoredEvent[] = []
    const done = (async () => {
      for await (const batch of tailLog(reader, {
        signal: stop.signal,
        after: first?.id,
        retryMs: 50,
        maxIdleMs: 200,
      })) {
        seen.push(...batch)
        if (seen.length >= 40) break
      }
    })()
    const appended: string[] = []
    for (let i = 0; i < 20; i++)
      appended.push(...(await writer.append([{ topic: 't', data: `${i}` }])).map((e) => e.id))
    await server.stop('SIGKILL')
    await server.start()
    for (let i = 20; i < 40; i++) {
      const events = await until(
        () => writer.append([{ topic: 't', data: `${i}` }]),
        () => true,
      )
      appended.push(...events.map((e) => e.id))
    }
    const timer = setTimeout(() => stop.abort(), 10_000)
    await done
    clearTimeout(timer)
    expect(seen.map((e) => e.id)).toEqual(appended)
  })
})

describe('redis store: a Redis that came back empty (no persistence)', () => {
  let server: BackendServer
  beforeAll(async () => {
    server = await startRedisServer({ persistence: 'none' })
  })
  afterAll(async () => {
    await server.dispose()
  })

  it('never issues an id below one issued before, and resets old cursors', async () => {
    const store = open(server, 'empty')
    const before = await store.append([
      { topic: 'a', data: '1' },
      { topic: 'a', data: '2' },
    ])
    const last = before[1]?.id as string
    await server.stop('SIGKILL')
    await server.start()
    const [next] = await until(
      () => store.append([{ topic: 'a', data: '3' }]),
      () => true,
    )
    expect(store.cursors.compare(last, next?.id as string)).toBeLessThan(0)
    // A subscriber resuming from before the loss gets a reset, not a silent gap.
    const page = await store.read(before[0]?.id, { topics: ALL, limit: 10 })
    expect(page.kind).toBe('reset')
    // A node that never saw the old log (restarted too) still issues ids above it: a fresh
    // log starts from the clock.
    await server.stop('SIGKILL')
    await server.start()
    const stranger = open(server, 'empty')
    const [fresh] = await until(
      () => stranger.append([{ topic: 'a', data: '4' }]),
      () => true,
    )
    expect(store.cursors.compare(next?.id as string, fresh?.id as string)).toBeLessThan(0)
  })
})

describe('redis store: several instances on one log', () => {
  let server: BackendServer
  beforeAll(async () => {
    server = await startRedisServer({ persistence: 'none' })
  })
  afterAll(async () => {
    await server.dispose()
  })

  it('orders concurrent appends from three instances; every tail sees the same log', async () => {
    const nodes = [open(server, 'multi'), open(server, 'multi'), open(server, 'multi')]
    const tails = nodes.map(async (node) => {
      const stop = new AbortController()
      const timer = setTimeout(() => stop.abort(), 20_000)
      const seen: string[] = []
      for await (const batch of tailLog(node, { signal: stop.signal, after: '0', maxIdleMs: 0 })) {
        seen.push(...batch.map((e) => e.id))
        if (seen.length >= 300) break
      }
      clearTimeout(timer)
      return seen
    })
    // The tails start from '0': they see everything, whenever they start.
    const appended = (
      await Promise.all(
        Array.from({ length: 150 }, (_, i) =>
          (nodes[i % 3] as EventStore).append([
            { topic: `n/${i % 3}`, data: `${i}a` },
            { topic: 'x', data: `${i}b` },
          ]),
        ),
      )
    ).flat()
    const ids = appended.map((e) => e.id).sort()
    expect(new Set(ids).size).toBe(300)
    for (const seen of await Promise.all(tails)) expect(seen).toEqual(ids)
  })
})
