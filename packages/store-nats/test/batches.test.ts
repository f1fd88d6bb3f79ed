/**
 * Batches on JetStream 2.9 are chains of messages: a reader shows a batch only when its last
 * part sits where the chain puts it. Interrupted and unfinished chains are written here by
 * hand (as a publisher that died mid-batch would leave them) on the real NATS server.
 */
import { randomUUID } from 'node:crypto'
import type { EventStore } from '@herald/store'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNatsEventStore, encodeTopic } from '../src/index.js'

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const namespace = `test-batch-${randomUUID().slice(0, 8)}`
let nc: NatsConnection
let store: EventStore

beforeAll(async () => {
  nc = await connect({ servers: url })
  store = createNatsEventStore({ url, namespace })
  await store.append([{ topic: 'setup', data: 'creates the stream' }])
})
afterAll(async () => {
  await store.close()
  const jsm = await jetstreamManager(nc)
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`herald-v1-${namespace}`)) await jsm.streams.delete(name)
  }
  await nc.close()
})

/** One part of a chain, as the store writes it. */
async function part(topic: string, data: string, b: string, i: number, k: number): Promise<void> {
  const js = jetstream(nc)
  await js.publish(
    `herald.v1.${namespace}.t.${encodeTopic(topic)}`,
    JSON.stringify({ a: Date.now(), t: topic, d: data, b, i, k }),
  )
}

const datas = async (cursor?: string) => {
  const page = await store.read(cursor, { topics: ['**'], limit: 100 })
  if (page.kind === 'reset') throw new Error('reset')
  return { data: page.events.map((e) => e.data), more: page.more, cursor: page.cursor }
}

describe('nats store: batches as chains', () => {
  it('holds readers back at an unfinished chain, and skips it once something else follows', async () => {
    const [before] = await store.append([{ topic: 'a', data: 'before' }])
    await part('a', 'half-1', 'dead-batch', 0, 3)
    await part('a', 'half-2', 'dead-batch', 1, 3)
    // The chain may still be written: nothing at or after its first part is shown yet.
    expect(await datas(before?.id)).toEqual({ data: [], more: false, cursor: before?.id })
    // Another publish lands where part 3 should have: the chain was interrupted.
    await store.append([{ topic: 'a', data: 'after' }])
    expect((await datas(before?.id)).data).toEqual(['after'])
  })

  it('shows a whole chain, and a real batch, at once and in order', async () => {
    const [before] = await store.append([{ topic: 'b', data: 'x' }])
    await part('b', 'p0', 'good-batch', 0, 2)
    await part('c', 'p1', 'good-batch', 1, 2)
    const real = await store.append([
      { topic: 'b', data: 'q0' },
      { topic: 'c', data: 'q1' },
    ])
    expect(real.map((e) => e.data)).toEqual(['q0', 'q1'])
    expect((await datas(before?.id)).data).toEqual(['p0', 'p1', 'q0', 'q1'])
    const c = await store.read(before?.id, { topics: ['c'], limit: 10 })
    expect(c.kind === 'events' && c.events.map((e) => e.data)).toEqual(['p1', 'q1'])
  })
})
