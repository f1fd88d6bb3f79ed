import { createMemoryEventStore } from '@herald/hub'
import { runEventStoreContract, runSchemaStoreContract } from '@herald/store/contract'
import { describe, expect, it } from 'vitest'

runEventStoreContract('memory', {
  create: (options) => createMemoryEventStore(options),
})

runSchemaStoreContract('memory', { create: () => createMemoryEventStore() })

describe('memory store specifics', () => {
  it('keeps one topic matcher per topic list, and each list reads its own topics', async () => {
    const store = createMemoryEventStore()
    await store.append([
      { topic: 'a/1', data: 'a' },
      { topic: 'b/1', data: 'b' },
    ])
    const a = ['a/*']
    const b = ['b/*']
    const read = async (topics: readonly string[]) => {
      const page = await store.read(undefined, { topics, limit: 10 })
      return page.kind === 'events' ? page.events.map((e) => e.data) : page.kind
    }
    for (let i = 0; i < 2; i++) {
      expect(await read(a)).toEqual(['a'])
      expect(await read(b)).toEqual(['b'])
      expect(await read(['a/*', 'b/*'])).toEqual(['a', 'b'])
    }
    await store.close()
  })

  it('bounds memory: past maxBytes the oldest events go, and old cursors get a reset', async () => {
    const store = createMemoryEventStore({ maxBytes: 10_000 })
    const data = 'x'.repeat(1000)
    const all = []
    for (let i = 0; i < 20; i++) all.push(...(await store.append([{ topic: 't', data }])))
    const page = await store.read(undefined, { topics: ['t'], limit: 100 })
    expect(page.kind === 'events' && page.events.length).toBeLessThan(10)
    expect(page.kind === 'events' && page.events.at(-1)?.id).toBe(all.at(-1)?.id)
    const old = await store.read(all[0]?.id, { topics: ['t'], limit: 100 })
    expect(old.kind === 'reset' && old.reason).toBe('expired')
    await store.close()
  })

  it('retention is O(1) amortised: a full log copies each event a bounded number of times', async () => {
    // The quadratic version sliced the whole log once per dropped event: 10 000 elements
    // copied per append once the log was full (400 million here, against < 150 000).
    const maxEvents = 10_000
    const appends = 5 * maxEvents
    const store = createMemoryEventStore({ retention: { maxEvents } })
    const ids: string[] = []
    const copied = await countBulkCopies(async () => {
      for (let i = 0; i < appends; i++) {
        const [event] = await store.append([{ topic: 't', data: String(i) }])
        ids.push(event?.id ?? '')
      }
    })
    expect(copied).toBeLessThan(3 * appends)
    // And the log is still exactly the newest maxEvents, in order, after the head wrapped.
    expect(await store.health()).toEqual({
      ok: true,
      oldestId: ids[appends - maxEvents],
      latestId: ids.at(-1),
    })
    const page = await store.read(ids[appends - 101], { topics: ['t'], limit: 1000 })
    expect(page.kind === 'events' && page.events.map((e) => e.data)).toEqual(
      Array.from({ length: 100 }, (_, i) => String(appends - 100 + i)),
    )
    const gone = await store.read(ids[appends - maxEvents - 2], { topics: ['t'], limit: 10 })
    expect(gone.kind).toBe('reset')
    await store.close()
  })

  it('per-topic retention stays O(1) amortised and keeps the other topics intact', async () => {
    const maxEvents = 10_000
    const appends = 5 * maxEvents
    const store = createMemoryEventStore({
      retention: { maxEvents, topics: [{ pattern: 'chatty/*', maxEvents: 10 }] },
    })
    const quiet: string[] = []
    const copied = await countBulkCopies(async () => {
      for (let i = 0; i < appends; i++) {
        // Three chatty events to one quiet one: the chatty rule punches holes mid-log.
        const topic = i % 4 === 3 ? 'quiet' : 'chatty/a'
        const [event] = await store.append([{ topic, data: String(i) }])
        if (topic === 'quiet') quiet.push(event?.data ?? '')
      }
    })
    expect(copied).toBeLessThan(3 * appends)
    const chatty = await store.read(undefined, { topics: ['chatty/a'], limit: 100 })
    expect(chatty.kind === 'events' && chatty.events.length).toBe(10)
    const kept = await store.read(undefined, { topics: ['quiet'], limit: maxEvents })
    // The hub-wide bound counts slots, holes included: the newest quarter are quiet ones.
    expect(kept.kind === 'events' && kept.events.map((e) => e.data)).toEqual(
      quiet.slice(quiet.length - maxEvents / 4),
    )
    await store.close()
  })
})

/**
 * Runs `work` while counting the elements that the bulk array built-ins (slice, splice,
 * shift, ...) walk over on arrays longer than 1000: a measure of copying that does not
 * depend on the machine's speed.
 */
async function countBulkCopies(work: () => Promise<void>): Promise<number> {
  const names = ['slice', 'splice', 'shift', 'unshift', 'concat', 'copyWithin', 'filter'] as const
  const proto = Array.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
  const originals = names.map(
    (name) => [name, proto[name] as (...args: unknown[]) => unknown] as const,
  )
  let copied = 0
  for (const [name, original] of originals) {
    proto[name] = function (this: unknown[], ...args: unknown[]) {
      if (this.length > 1000) copied += this.length
      return original.apply(this, args)
    }
  }
  try {
    await work()
  } finally {
    for (const [name, original] of originals) proto[name] = original
  }
  return copied
}
