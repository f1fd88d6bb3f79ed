/**
 * Appends made in one event-loop turn go to Redis as ONE script call (the publish path's
 * throughput depends on it), while each batch keeps its own fate: a batch refused for a
 * repeated publisher id takes nothing else down. Publisher ids resolve to cursors exactly
 * while their events are retained.
 */
import { isHeraldError } from '@herald/protocol'
import { tailLog } from '@herald/store'
import { type BackendServer, startRedisServer } from '@herald/testkit'
import { createClient } from '@redis/client'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventStore, type RedisEventStore } from '../src/index.js'

const stores: RedisEventStore[] = []
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close()
})

describe('redis store: one script call per turn, publisher ids (private redis-server)', () => {
  let server: BackendServer
  let admin: ReturnType<typeof createClient>
  beforeAll(async () => {
    server = await startRedisServer({ persistence: 'none' })
    admin = createClient({ url: server.url, RESP: 2 })
    await admin.connect()
  })
  afterAll(async () => {
    await admin.close()
    await server.dispose()
  })

  function open(namespace: string, options: Parameters<typeof createRedisEventStore>[0] = {}) {
    const store = createRedisEventStore({ url: server.url, namespace, ...options })
    stores.push(store)
    return store
  }

  async function scriptCalls(): Promise<number> {
    const info = await admin.sendCommand<string>(['INFO', 'commandstats'])
    let calls = 0
    for (const name of ['evalsha', 'eval']) {
      const match = new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)
      if (match !== null) calls += Number(match[1])
    }
    return calls
  }

  /** Script calls, and PUBLISH commands (one per append call, run inside the script). */
  async function scriptsAndAnnouncements(): Promise<{ scripts: number; publish: number }> {
    const info = await admin.sendCommand<string>(['INFO', 'commandstats'])
    const calls = (name: string): number =>
      Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
    return { scripts: calls('evalsha') + calls('eval'), publish: calls('publish') }
  }

  it('sends every append of one turn in one script call, each batch contiguous', async () => {
    const store = open('turn')
    await store.append([{ topic: 'warm', data: '0' }]) // loads the script
    const before = await scriptCalls()
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.append([
          { topic: `t/${i % 5}`, data: `${i}a` },
          { topic: `t/${i % 5}`, data: `${i}b` },
        ]),
      ),
    )
    // The INFO call itself is not a script call.
    expect((await scriptCalls()) - before).toBe(1)
    const seqs = results.flat().map((e) => Number(e.id))
    expect(new Set(seqs).size).toBe(80)
    for (const [a, b] of results) expect(Number(b?.id)).toBe(Number(a?.id) + 1)
    expect(results.flat().map((e) => e.data)).toEqual(
      Array.from({ length: 40 }, (_, i) => [`${i}a`, `${i}b`]).flat(),
    )
    // In call order.
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs)
  })

  it('holds appends of later turns while a call is in flight, and sends them in one call', async () => {
    const store = open('in-flight')
    await store.append([{ topic: 'warm', data: '0' }])
    const before = await scriptCalls()
    // Redis frozen: the first call stays in flight for as long as the test says.
    server.pause()
    const pending: Promise<unknown>[] = []
    try {
      pending.push(store.append([{ topic: 'f', data: 'first' }]))
      // Five more turns while the first call is on its way.
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setImmediate(resolve))
        pending.push(store.append([{ topic: 'f', data: `later-${i}` }]))
      }
    } finally {
      server.resume()
    }
    const results = (await Promise.all(pending)) as { id: string }[][]
    expect((await scriptCalls()) - before).toBe(2)
    const ids = results.map((r) => Number(r[0]?.id))
    expect([...ids].sort((x, y) => x - y)).toEqual(ids)
  })

  it('refuses only the batch that repeats a publisher id, in the same turn as others', async () => {
    const store = open('dup-turn')
    const [first] = await store.append([{ topic: 'm', data: '1', clientId: 'urn:uuid:one' }])
    const [repeat, fresh, inner] = await Promise.allSettled([
      store.append([
        { topic: 'm', data: 'x', clientId: 'urn:uuid:two' },
        { topic: 'm', data: 'y', clientId: 'urn:uuid:one' },
      ]),
      store.append([{ topic: 'm', data: '2', clientId: 'urn:uuid:three' }]),
      store.append([
        { topic: 'm', data: 'z', clientId: 'urn:uuid:four' },
        { topic: 'm', data: 'z', clientId: 'urn:uuid:four' },
      ]),
    ])
    expect(
      repeat.status === 'rejected' && isHeraldError(repeat.reason, 'HERALD_DUPLICATE_EVENT_ID'),
    ).toBe(true)
    expect(
      inner.status === 'rejected' && isHeraldError(inner.reason, 'HERALD_DUPLICATE_EVENT_ID'),
    ).toBe(true)
    expect(fresh.status).toBe('fulfilled')
    const three = fresh.status === 'fulfilled' ? fresh.value[0]?.id : undefined
    expect(Number(three)).toBe(Number(first?.id) + 1)
    expect(await store.findCursor?.('urn:uuid:two')).toBeUndefined()
    expect(await store.findCursor?.('urn:uuid:four')).toBeUndefined()
    expect(await store.findCursor?.('urn:uuid:three')).toBe(three)
    // Another node on the same log sees the same ids.
    const peer = open('dup-turn')
    expect(await peer.findCursor?.('urn:uuid:one')).toBe(first?.id)
    await expect(
      peer.append([{ topic: 'm', data: 'again', clientId: 'urn:uuid:one' }]),
    ).rejects.toMatchObject({
      code: 'HERALD_DUPLICATE_EVENT_ID',
      status: 409,
    })
  })

  // Count and per-topic rules: the @herald/store contract suite.
  it('forgets a publisher id with its event by age on a lookup alone, and keeps the map bounded', async () => {
    let clock = 1_000_000
    const store = open('ids-retention', { retention: { maxAgeMs: 60_000 }, now: () => clock })
    await store.append([{ topic: 'x', data: 'a', clientId: 'id-a' }])
    const [b] = await store.append([{ topic: 'x', data: 'b', clientId: 'id-b' }])
    expect(await store.findCursor?.('id-b')).toBe(b?.id)
    clock += 120_000
    expect(await store.findCursor?.('id-b')).toBeUndefined()
    expect(await admin.hLen(`${store.prefix}ids`)).toBe(0)
  })

  it('indexes ids the hub generated (not checked: they cannot repeat)', async () => {
    const store = open('generated')
    const [event] = await store.append([
      { topic: 'g', data: '1', clientId: 'urn:uuid:generated-1', clientIdGenerated: true },
    ])
    expect(await store.findCursor?.('urn:uuid:generated-1')).toBe(event?.id)
  })

  it('stores nothing for an event without a publisher id: its update id is derived from the sequence', async () => {
    const store = open('derived')
    const [a, b] = await store.append([
      { topic: 'd', data: '1' },
      { topic: 'd', data: '2' },
    ])
    expect(a?.clientId).toMatch(/^urn:uuid:[0-9a-f-]{36}$/)
    expect(await admin.hLen(`${store.prefix}ids`)).toBe(0)
    expect(await store.findCursor?.(b?.clientId as string)).toBe(b?.id)
    // The derived form of this log is never a publisher's id.
    const unused = String(b?.clientId).replace(/.$/, (c) => (c === 'f' ? 'e' : 'f'))
    await expect(store.append([{ topic: 'd', data: '3', clientId: unused }])).rejects.toMatchObject(
      { code: 'HERALD_DUPLICATE_EVENT_ID' },
    )
  })

  it("answers the node tail's read of its own appends without a script call, once", async () => {
    const store = open('tip')
    const [first] = await store.append([{ topic: 'a', data: '0' }])
    const events = await store.append([
      { topic: 'a', data: '1' },
      { topic: 'b', data: '2', clientId: 'given' },
    ])
    const calls = await scriptCalls()
    const page = await store.read(first?.id, { topics: ['**'], limit: 10 })
    expect(page).toEqual({ kind: 'events', events, cursor: events[1]?.id, more: false })
    expect(await scriptCalls()).toBe(calls)
    // Read past: the same read again comes from Redis, and says the same.
    expect(await store.read(first?.id, { topics: ['**'], limit: 10 })).toEqual(page)
    expect(await scriptCalls()).toBeGreaterThan(calls)
  })

  it("answers a following tail's reads of this node's appends without a script call: its own wake announcements do not send it to Redis", async () => {
    const store = open('own-wake')
    const [first] = await store.append([{ topic: 'w', data: '0' }])
    const stop = new AbortController()
    let positioned!: () => void
    const ready = new Promise<void>((resolve) => (positioned = resolve))
    const seen: string[] = []
    let reached!: () => void
    const all = new Promise<void>((resolve) => (reached = resolve))
    let warm!: () => void
    const tail = (async () => {
      for await (const events of tailLog(store, {
        signal: stop.signal,
        after: first?.id,
        maxIdleMs: 0,
        onPositioned: () => positioned(),
      })) {
        for (const e of events) seen.push(e.data)
        if (seen.length === 202) reached()
        else if (seen.length <= 2) warm()
      }
    })()
    await ready
    // Two appends the tail has seen, one after the other: its first reads from Redis, and the
    // one after the subscription's wakeup, are done.
    for (let i = 0; i < 2; i++) {
      const warmed = new Promise<void>((resolve) => (warm = resolve))
      await store.append([{ topic: 'w', data: 'warm' }])
      await warmed
    }
    const before = await scriptsAndAnnouncements()
    // Eight writers, 25 appends each: several calls in a row, each announced on the wake
    // channel, where the announcement may arrive before the call's answer.
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 25; i++) await store.append([{ topic: 'w', data: `${w}/${i}` }])
      }),
    )
    await all
    const after = await scriptsAndAnnouncements()
    stop.abort()
    await tail
    expect(seen.length).toBe(202)
    // Every script call was an append (each publishes one announcement): no read.
    expect(after.scripts - before.scripts).toBe(after.publish - before.publish)
  })

  it('carries any text through the packed batch (quotes, newlines, NUL, non-BMP; a lone surrogate as U+FFFD)', async () => {
    const store = open('text')
    const odd = 'q"uote\\ \n\r\u0000 é 😀 </script>'
    const [a, b] = await Promise.all([
      store.append([{ topic: 'odd/é', data: odd, type: 't"y', clientId: 'c"1' }]),
      store.append([{ topic: 'odd/x', data: `lone \ud800 half` }]),
    ])
    const page = await store.read(undefined, { topics: ['odd/*'], limit: 10 })
    expect(
      page.kind === 'events' && page.events.map((e) => [e.id, e.topic, e.data, e.type, e.clientId]),
    ).toEqual([
      [a?.[0]?.id, 'odd/é', odd, 't"y', 'c"1'],
      [b?.[0]?.id, 'odd/x', 'lone \ufffd half', undefined, b?.[0]?.clientId],
    ])
  })

  it('flushes appends made just before close', async () => {
    const store = createRedisEventStore({ url: server.url, namespace: 'close-flush' })
    const pending = store.append([{ topic: 'c', data: 'last' }])
    await store.close()
    const [event] = await pending
    const reader = open('close-flush')
    const page = await reader.read(undefined, { topics: ['**'], limit: 10 })
    expect(page.kind === 'events' && page.events.map((e) => e.id)).toEqual([event?.id])
  })

  it('answers HERALD_STORE_UNAVAILABLE to every batch of a turn when the call fails', async () => {
    const store = open('turn-down', { commandTimeoutMs: 1000, maxBackoffMs: 100 })
    await store.append([{ topic: 'w', data: '0' }])
    server.pause()
    try {
      const results = await Promise.allSettled([
        store.append([{ topic: 'w', data: '1' }]),
        store.append([{ topic: 'w', data: '2' }]),
      ])
      for (const r of results) {
        expect(r.status === 'rejected' && isHeraldError(r.reason, 'HERALD_STORE_UNAVAILABLE')).toBe(
          true,
        )
      }
    } finally {
      server.resume()
    }
  })
})
