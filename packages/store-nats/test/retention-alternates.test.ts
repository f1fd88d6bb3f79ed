/**
 * Per-pattern retention on NATS and events with alternate topics (Mercure multi-topic
 * updates). Such an event is one message on the shared `herald.v1.<ns>.x` subject; a
 * per-pattern rule is a filtered purge of its pattern's subjects, which cannot pick messages
 * out of `x` by topic. So these events are bounded by the hub-wide limits only (count, age,
 * bytes: the stream's own), never dropped by a rule, and a replay of the rule's pattern
 * still sees them, without a reset. What this documents is checked here.
 */
import { randomUUID } from 'node:crypto'
import type { EventStore } from '@herald/store'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, describe, expect, it } from 'vitest'
import { createNatsEventStore } from '../src/index.js'

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const namespace = `test-ralt-${randomUUID().slice(0, 8)}`
const stores: EventStore[] = []

afterAll(async () => {
  for (const store of stores) await store.close()
  const nc = await connect({ servers: url })
  const jsm = await jetstreamManager(nc)
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`herald-v1-${namespace}`)) await jsm.streams.delete(name)
  }
  await nc.close()
})

async function all(store: EventStore, topics: string[]): Promise<string[]> {
  const out: string[] = []
  let cursor: string | undefined
  for (;;) {
    const page = await store.read(cursor, { topics, limit: 100 })
    if (page.kind === 'reset') throw new Error(`reset: ${page.reason}`)
    out.push(...page.events.map((e) => e.data))
    if (!page.more) return out
    cursor = page.cursor
  }
}

describe('nats store: per-pattern rules and alternate topics', () => {
  it('bounds plain events by the rule, and events with alternates by the hub-wide limits only', async () => {
    const store = createNatsEventStore({
      url,
      namespace,
      retention: { maxEvents: 6, topics: [{ pattern: 'a/*', maxEvents: 1 }] },
    })
    stores.push(store)
    for (let i = 0; i < 3; i++) {
      await store.append([{ topic: 'a/1', alternates: ['b/1'], data: `multi-${i}` }])
      await store.append([{ topic: 'a/2', data: `plain-${i}` }])
    }
    // The rule kept one plain event; every multi-topic event is still there.
    expect(await all(store, ['a/*'])).toEqual(['multi-0', 'multi-1', 'multi-2', 'plain-2'])
    expect(await all(store, ['b/1'])).toEqual(['multi-0', 'multi-1', 'multi-2'])
    // The hub-wide count (6) does bound them: the oldest go first, whatever their subject.
    for (let i = 3; i < 7; i++) {
      await store.append([{ topic: 'a/1', alternates: ['b/1'], data: `multi-${i}` }])
    }
    expect(await all(store, ['**'])).toEqual([
      'multi-2',
      'plain-2',
      'multi-3',
      'multi-4',
      'multi-5',
      'multi-6',
    ])
  })
})
