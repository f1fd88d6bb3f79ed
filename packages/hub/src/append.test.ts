import { HeraldError, isHeraldError } from '@herald/protocol'
import type { AppendInput, EventStore, StoredEvent } from '@herald/store'
import { describe, expect, it } from 'vitest'
import { createAppender } from './append.js'
import { createMemoryEventStore } from './memory-store.js'
import { createHubMetrics } from './metrics.js'

/** The memory store, with its append replaced by `append` (which may call the real one). */
function storeWith(
  append: (real: EventStore['append'], inputs: readonly AppendInput[]) => Promise<StoredEvent[]>,
): EventStore {
  const real = createMemoryEventStore()
  const inner = real.append.bind(real)
  return Object.assign(Object.create(real) as EventStore, {
    append: (inputs: readonly AppendInput[]) => append(inner, inputs),
  })
}

function setup(store: EventStore) {
  const metrics = createHubMetrics({ connections: () => 0, subscribersByTopic: () => new Map() })
  const appended: StoredEvent[][] = []
  let revalidated = 0
  const append = createAppender({
    store,
    metrics,
    publishStartedAt: new Map(),
    onAppended: (stored) => appended.push([...stored]),
    revalidate: () => {
      revalidated++
      return undefined
    },
  })
  const appendCount = async () => {
    const text = await metrics.registry.metrics()
    return Number(/herald_store_seconds_count\{op="append"\} (\d+)/.exec(text)?.[1] ?? 0)
  }
  return { append, metrics, appended, appendCount, revalidated: () => revalidated }
}

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'stored',
    (error: unknown) => (isHeraldError(error) ? error.code : String(error)),
  )

describe('appender', () => {
  it('stores, counts and reports an append', async () => {
    const { append, appended, appendCount, metrics } = setup(createMemoryEventStore())
    const stored = await append([{ topic: 't', data: '1' }], performance.now())
    expect(stored.map((e) => e.data)).toEqual(['1'])
    expect(appended).toEqual([stored])
    expect(await appendCount()).toBe(1)
    expect(await metrics.registry.metrics()).toContain('herald_events_published_total 1')
  })

  it('answers a store that throws, synchronously or not, with 503 HERALD_STORE_UNAVAILABLE; a HeraldError as is', async () => {
    const sync = setup(
      storeWith(() => {
        throw new TypeError('driver exploded')
      }),
    )
    expect(await codeOf(sync.append([{ topic: 't', data: '1' }], 0))).toBe(
      'HERALD_STORE_UNAVAILABLE',
    )
    const rejected = setup(storeWith(() => Promise.reject(new Error('connection reset'))))
    const error = await rejected.append([{ topic: 't', data: '1' }], 0).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'HERALD_STORE_UNAVAILABLE', status: 503 })
    expect((error as Error).message).toContain('connection reset')
    const closed = createMemoryEventStore()
    await closed.close()
    const herald = setup(closed)
    expect(await codeOf(herald.append([{ topic: 't', data: '1' }], 0))).toBe('HERALD_STORE_CLOSED')
    // Every attempt is timed, failed or not; nothing is reported as appended.
    for (const s of [sync, rejected, herald]) {
      expect(await s.appendCount()).toBe(1)
      expect(s.appended).toEqual([])
    }
  })

  it('validates again and appends again when the schema revision moved, up to 4 more times', async () => {
    const conflict = () =>
      new HeraldError('HERALD_SCHEMA_CONFLICT', 'schemas changed', { status: 409 })
    let refusals = 2
    const twice = setup(
      storeWith((real, inputs) => (refusals-- > 0 ? Promise.reject(conflict()) : real(inputs))),
    )
    const stamped = [{ topic: 't', data: '1', schemaRevision: 3 }]
    expect((await twice.append(stamped, 0)).map((e) => e.data)).toEqual(['1'])
    expect(twice.revalidated()).toBe(2)
    expect(twice.appended.length).toBe(1)
    let attempts = 0
    const always = setup(
      storeWith(() => {
        attempts++
        return Promise.reject(conflict())
      }),
    )
    expect(await codeOf(always.append(stamped, 0))).toBe('HERALD_SCHEMA_CONFLICT')
    expect(attempts).toBe(5)
    expect(always.revalidated()).toBe(4)
    // Events validated without a revision are never retried.
    attempts = 0
    expect(await codeOf(always.append([{ topic: 't', data: '1' }], 0))).toBe(
      'HERALD_SCHEMA_CONFLICT',
    )
    expect(attempts).toBe(1)
  })
})
