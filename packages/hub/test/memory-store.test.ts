import { createMemoryBroker, createMemoryEventStore } from '@herald/hub'
import { runBrokerContract, runEventStoreContract } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

runEventStoreContract('memory', {
  create: (options) => createMemoryEventStore(options),
})

describe('memory store specifics', () => {
  it('bounds memory: past maxBytes the oldest events go, and old cursors get a reset', async () => {
    const store = createMemoryEventStore({ maxBytes: 10_000 })
    const data = 'x'.repeat(1000)
    const all = []
    for (let i = 0; i < 20; i++) all.push(...(await store.append([{ topic: 't', data }])))
    const page = await store.readSince(undefined, { topics: ['t'], limit: 100 })
    expect(page.kind === 'events' && page.events.length).toBeLessThan(10)
    expect(page.kind === 'events' && page.events.at(-1)?.id).toBe(all.at(-1)?.id)
    const old = await store.readSince(all[0]?.id, { topics: ['t'], limit: 100 })
    expect(old.kind === 'reset' && old.reason).toBe('expired')
    await store.close()
  })
})

runBrokerContract('memory', { create: () => createMemoryBroker() })
