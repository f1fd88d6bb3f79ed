/**
 * Publisher ids (Mercure update ids) on JetStream: they resolve to cursors exactly while their
 * events are retained, and two nodes publishing the same id at once cannot both succeed.
 */
import { randomUUID } from 'node:crypto'
import { isHeraldError } from '@herald/protocol'
import type { EventStore } from '@herald/store'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNatsEventStore, type NatsEventStoreOptions } from '../src/index.js'

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const run = `test-ids-${randomUUID().slice(0, 8)}`
const stores: EventStore[] = []
function open(namespace: string, options: NatsEventStoreOptions = {}): EventStore {
  const store = createNatsEventStore({ url, namespace: `${run}-${namespace}`, ...options })
  stores.push(store)
  return store
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close()
})
afterAll(async () => {
  const nc = await connect({ servers: url })
  const jsm = await jetstreamManager(nc)
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`herald-v1-${run}`)) await jsm.streams.delete(name)
  }
  await nc.close()
})

describe('nats store: publisher ids', () => {
  // Count and per-topic rules: the @herald/store contract suite.
  it('forgets an id with its event by age on a lookup alone', async () => {
    let clock = Date.now()
    const store = open('retention', { retention: { maxAgeMs: 60_000 }, now: () => clock })
    const [a] = await store.append([{ topic: 'x', data: 'a', clientId: 'id-a' }])
    expect(await store.findCursor?.('id-a')).toBe(a?.id)
    // Age by the store's clock: a lookup alone applies it.
    clock += 120_000
    expect(await store.findCursor?.('id-a')).toBeUndefined()
  })

  it('records nothing for an event without a publisher id: its update id is derived from the sequence', async () => {
    const store = open('derived')
    const [a, b] = await store.append([
      { topic: 'd', data: '1' },
      { topic: 'd', data: '2' },
    ])
    const [c] = await store.append([{ topic: 'd', data: '3' }])
    expect(c?.clientId).toMatch(/^urn:uuid:[0-9a-f-]{36}$/)
    const nc = await connect({ servers: url })
    try {
      const jsm = await jetstreamManager(nc)
      const ids = await jsm.streams.info(`herald-v1-${run}-derived-ids`)
      expect(ids.state.messages).toBe(0)
    } finally {
      await nc.close()
    }
    for (const e of [a, b, c]) expect(await store.findCursor?.(e?.clientId as string)).toBe(e?.id)
    // The derived form of this log is never a publisher's id.
    const unused = String(c?.clientId).replace(/.$/, (x) => (x === 'f' ? 'e' : 'f'))
    await expect(store.append([{ topic: 'd', data: '4', clientId: unused }])).rejects.toMatchObject(
      { code: 'HERALD_DUPLICATE_EVENT_ID' },
    )
  })

  it('indexes ids the hub generated without claiming them first', async () => {
    const store = open('generated')
    const id = `urn:uuid:${randomUUID()}`
    const [event] = await store.append([
      { topic: 'g', data: '1', clientId: id, clientIdGenerated: true },
      { topic: 'g', data: '2', clientId: 'given' },
    ])
    expect(await store.findCursor?.(id)).toBe(event?.id)
    expect(await store.findCursor?.('given')).toBeDefined()
  })

  it('lets exactly one of two nodes publishing the same id at once succeed', async () => {
    const a = open('race')
    const b = open('race')
    await a.append([{ topic: 'w', data: 'warm' }])
    await b.append([{ topic: 'w', data: 'warm' }])
    for (let round = 0; round < 5; round++) {
      const id = `urn:uuid:${randomUUID()}`
      const results = await Promise.allSettled([
        a.append([{ topic: 'r', data: 'from-a', clientId: id }]),
        b.append([{ topic: 'r', data: 'from-b', clientId: id }]),
      ])
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r) => r.status === 'rejected')
      expect(won).toHaveLength(1)
      expect(lost).toHaveLength(1)
      expect(
        isHeraldError((lost[0] as PromiseRejectedResult).reason, 'HERALD_DUPLICATE_EVENT_ID'),
      ).toBe(true)
      const winner = (won[0] as PromiseFulfilledResult<{ id: string }[]>).value[0]
      expect(await a.findCursor?.(id)).toBe(winner?.id)
      expect(await b.findCursor?.(id)).toBe(winner?.id)
    }
    // Only the winners are in the log.
    const page = await a.read(undefined, { topics: ['r'], limit: 100 })
    expect(page.kind === 'events' && page.events.length).toBe(5)
  })
})
