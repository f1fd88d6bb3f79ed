import { isHeraldError } from '@herald/protocol'
import type { AppendInput, SchemaStore } from '@herald/store'
import { createMemorySchemaStore } from '@herald/store'
import { describe, expect, it } from 'vitest'
import { createSchemaRegistry } from './registry.js'

/**
 * A memory schema store whose `schemaRevision` reads are counted and can be held (a held read
 * answers the revision of when it started, like a slow round trip).
 */
function gatedStore(): {
  store: SchemaStore
  backend: SchemaStore
  reads: () => number
  hold: () => void
  release: () => void
} {
  const backend = createMemorySchemaStore()
  let reads = 0
  let gate: Promise<void> | undefined
  let open: (() => void) | undefined
  const store: SchemaStore = {
    registerSchema: (registration, previous) => backend.registerSchema(registration, previous),
    listSchemas: () => backend.listSchemas(),
    async schemaRevision() {
      reads++
      // The value as of when the read started: a held read answers a stale revision.
      const value = await backend.schemaRevision()
      if (gate !== undefined) await gate
      return value
    },
  }
  return {
    store,
    backend,
    reads: () => reads,
    hold() {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release() {
      gate = undefined
      open?.()
    },
  }
}

const NUMBER = JSON.stringify({ type: 'object', properties: { n: { type: 'number' } } })

describe('schema registry freshness', () => {
  it('a burst of concurrent publishes shares its revision reads (at most two)', async () => {
    const { store, reads, hold, release } = gatedStore()
    const registry = createSchemaRegistry(store)
    hold()
    const checks = Array.from({ length: 100 }, () =>
      registry.validate([{ topic: 'ticks', data: '{"n":1}' }]),
    )
    release()
    await Promise.all(checks)
    expect(reads()).toBeLessThanOrEqual(2)
  })

  it('a publish arriving after a registration on another node is checked against it, even while an older read is in flight', async () => {
    const { store, backend, hold, release } = gatedStore()
    const registry = createSchemaRegistry(store)
    await registry.validate([{ topic: 'ticks', data: '{"n":"x"}' }]) // cache revision 0: no schema
    hold()
    // A read that started before the registration: it may see revision 0.
    const early = registry.validate([{ topic: 'ticks', data: '{"n":"x"}' }])
    await new Promise((resolve) => setImmediate(resolve))
    // Another node registers a schema, and is answered.
    await backend.registerSchema({ topic: 'ticks', schema: NUMBER, compatibility: 'backward' }, 0)
    // A publish that arrives now must not ride on the early read.
    const late = registry.validate([{ topic: 'ticks', data: '{"n":"x"}' }]).then(
      () => 'accepted',
      (error: unknown) =>
        isHeraldError(error, 'HERALD_SCHEMA_VIOLATION') ? 'refused' : String(error),
    )
    release()
    await early.catch(() => undefined)
    expect(await late).toBe('refused')
  })
})

describe('schema registry: synchronous revision (validateNow)', () => {
  /** A memory schema store whose asynchronous revision reads are counted. */
  function counted(): { store: SchemaStore; backend: SchemaStore; reads: () => number } {
    const backend = createMemorySchemaStore()
    let reads = 0
    const store: SchemaStore = {
      registerSchema: (registration, previous) => backend.registerSchema(registration, previous),
      listSchemas: () => backend.listSchemas(),
      schemaRevision() {
        reads++
        return backend.schemaRevision()
      },
      schemaRevisionNow: () => backend.schemaRevisionNow?.() ?? -1,
    }
    return { store, backend, reads: () => reads }
  }

  it('checks at once, without a revision read per publish, while the schemas have not moved', async () => {
    const { store, reads } = counted()
    const registry = createSchemaRegistry(store)
    // The cache starts empty (revision -1): the first check reads.
    expect(registry.validateNow([{ topic: 'ticks', data: '{"n":1}' }])).toBe(false)
    await registry.validate([{ topic: 'ticks', data: '{"n":1}' }])
    const before = reads()
    for (let i = 0; i < 100; i++) {
      expect(registry.validateNow([{ topic: 'ticks', data: '{"n":"x"}' }])).toBe(true)
    }
    expect(reads()).toBe(before)
  })

  it('a registration (by any instance) makes the next publish read it, then checks against it', async () => {
    const { store, backend } = counted()
    const registry = createSchemaRegistry(store)
    await registry.validate([{ topic: 'ticks', data: '{"n":"x"}' }])
    await backend.registerSchema({ topic: 'ticks', schema: NUMBER, compatibility: 'backward' }, 0)
    // The revision moved: not checked at once (the cache is stale)...
    expect(registry.validateNow([{ topic: 'ticks', data: '{"n":"x"}' }])).toBe(false)
    // ...the asynchronous check reads it and refuses...
    const refused = await registry.validate([{ topic: 'ticks', data: '{"n":"x"}' }]).then(
      () => 'accepted',
      (error: unknown) => (isHeraldError(error, 'HERALD_SCHEMA_VIOLATION') ? 'refused' : error),
    )
    expect(refused).toBe('refused')
    // ...and from then on the synchronous check refuses too, and stamps the version.
    expect(() => registry.validateNow([{ topic: 'ticks', data: '{"n":"x"}' }])).toThrow(
      /does not match schema version 1/,
    )
    const event: { topic: string; data: string; schemaVersion?: number } = {
      topic: 'ticks',
      data: '{"n":1}',
    }
    expect(registry.validateNow([event])).toBe(true)
    expect(event.schemaVersion).toBe(1)
  })

  it('with knownSchemaRevision, a refusal by the cache is confirmed by a read: a version registered elsewhere since may accept the events', async () => {
    const backend = createMemorySchemaStore()
    let known: number | undefined
    const store: SchemaStore = {
      registerSchema: (registration, previous) => backend.registerSchema(registration, previous),
      listSchemas: () => backend.listSchemas(),
      async schemaRevision() {
        known = await backend.schemaRevision()
        return known
      },
      knownSchemaRevision: () => known,
    }
    const registry = createSchemaRegistry(store)
    await backend.registerSchema({ topic: 'ticks', schema: NUMBER, compatibility: 'backward' }, 0)
    const text = '{"n":"x"}'
    await expect(registry.validate([{ topic: 'ticks', data: text }])).rejects.toThrow(
      /schema version 1/,
    )
    // Another instance registers version 2 (any object); this one has not learnt it.
    const any = JSON.stringify({ type: 'object' })
    await backend.registerSchema({ topic: 'ticks', schema: any, compatibility: 'none' }, 1)
    expect(known).toBe(1)
    expect(registry.validateNow([{ topic: 'ticks', data: text }])).toBe(false)
    const event: AppendInput = { topic: 'ticks', data: text }
    await registry.validate([event])
    expect(event.schemaVersion).toBe(2)
  })

  it('a store without a synchronous read is never checked at once', async () => {
    const { store } = gatedStore()
    const registry = createSchemaRegistry(store)
    await registry.validate([{ topic: 'ticks', data: '1' }])
    expect(registry.validateNow([{ topic: 'ticks', data: '1' }])).toBe(false)
  })
})
