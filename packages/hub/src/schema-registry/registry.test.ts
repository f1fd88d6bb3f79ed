import { isHeraldError } from '@herald/protocol'
import type { SchemaStore } from '@herald/store'
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
