/**
 * The contract every `SchemaStore` honours, as one vitest suite. A store package calls
 * {@link runSchemaStoreContract} from its own test file, beside the event-store contract.
 */
import { isHeraldError } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import type { EventStore } from '../event-store.js'
import type { SchemaRegistration, SchemaStore } from '../schema-store.js'

/** What owns a schema store: an `EventStore` with `schemas` fits. */
export interface SchemaStoreOwner {
  /** The schema store under test. */
  readonly schemas?: SchemaStore | undefined
  /**
   * The owner's appends: with {@link SchemaStore.knownSchemaRevision}, the contract checks
   * that they refuse events validated against another revision.
   */
  readonly append?: EventStore['append'] | undefined
  /** The owner's reads (to check that a refused append stored nothing). */
  readonly read?: EventStore['read'] | undefined
  /** Releases the owner (and its schema store). */
  close(): Promise<void>
}

/** How the contract creates schema stores. */
export interface SchemaStoreContractOptions {
  /** Creates a fresh, empty store. */
  create(): SchemaStoreOwner | Promise<SchemaStoreOwner>
  /** Persistent stores: opens the data of the store last created (after it was closed). */
  reopen?: (() => SchemaStoreOwner | Promise<SchemaStoreOwner>) | undefined
  /** Shared backends: another instance on the backend of the store last created. */
  peer?: (() => SchemaStoreOwner | Promise<SchemaStoreOwner>) | undefined
}

function reg(topic: string, schema: unknown, compatibility = 'backward'): SchemaRegistration {
  return {
    topic,
    schema: JSON.stringify(schema),
    compatibility: compatibility as SchemaRegistration['compatibility'],
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    return isHeraldError(error) ? error.code : `not a HeraldError: ${String(error)}`
  }
  return 'resolved'
}

/**
 * Registers the schema-store contract suite (vitest `describe`/`it`) for one store.
 *
 * @param name - Label of the store under test, for example `sqlite`.
 */
export function runSchemaStoreContract(name: string, options: SchemaStoreContractOptions): void {
  describe(`SchemaStore contract: ${name}`, () => {
    const open: SchemaStoreOwner[] = []
    async function track(owner: SchemaStoreOwner | Promise<SchemaStoreOwner>) {
      const o = await owner
      open.push(o)
      const schemas = o.schemas
      if (schemas === undefined) throw new Error(`${name}: the store has no schemas`)
      return { owner: o, schemas }
    }
    afterEach(async () => {
      for (const o of open.splice(0)) await o.close().catch(() => {})
    })

    it('starts empty', async () => {
      const { schemas } = await track(options.create())
      expect(await schemas.listSchemas()).toEqual([])
      expect(await schemas.schemaRevision()).toBe(0)
      if (schemas.schemaRevisionNow !== undefined) expect(schemas.schemaRevisionNow()).toBe(0)
    })

    it('numbers versions per pattern from 1 and keeps every field byte for byte', async () => {
      const { schemas } = await track(options.create())
      const before = Date.now()
      const text = '{ "type": "object",  "description": "é 😀" }'
      const one = await schemas.registerSchema(
        { topic: 'orders/*', schema: text, compatibility: 'full' },
        0,
      )
      expect(one).toMatchObject({
        topic: 'orders/*',
        version: 1,
        schema: text,
        compatibility: 'full',
      })
      expect(one.registeredAt).toBeGreaterThanOrEqual(before - 1000)
      const two = await schemas.registerSchema(reg('orders/*', { type: 'object' }, 'none'), 1)
      expect(two.version).toBe(2)
      const other = await schemas.registerSchema(reg('a/**', true), 0)
      expect(other.version).toBe(1)
      const listed = await schemas.listSchemas()
      expect(listed.map((v) => [v.topic, v.version])).toEqual([
        ['a/**', 1],
        ['orders/*', 1],
        ['orders/*', 2],
      ])
      expect(listed[1]).toEqual(one)
      expect(listed[2]).toEqual(two)
      expect(await schemas.schemaRevision()).toBe(3)
      // The synchronous read, where the store has one, says the same at once.
      if (schemas.schemaRevisionNow !== undefined) expect(schemas.schemaRevisionNow()).toBe(3)
    })

    it('refuses a registration whose previous version is not the latest, storing nothing', async () => {
      const { schemas } = await track(options.create())
      await schemas.registerSchema(reg('t', { type: 'string' }), 0)
      expect(await codeOf(schemas.registerSchema(reg('t', {}), 0))).toBe('HERALD_SCHEMA_CONFLICT')
      expect(await codeOf(schemas.registerSchema(reg('t', {}), 2))).toBe('HERALD_SCHEMA_CONFLICT')
      expect(await codeOf(schemas.registerSchema(reg('u', {}), 1))).toBe('HERALD_SCHEMA_CONFLICT')
      expect((await schemas.listSchemas()).length).toBe(1)
      expect(await schemas.schemaRevision()).toBe(1)
    })

    it('of concurrent registrations after one version, exactly one wins', async () => {
      const { schemas } = await track(options.create())
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) =>
          schemas.registerSchema(reg('race', { title: `${i}` }), 0),
        ),
      )
      expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1)
      expect((await schemas.listSchemas()).map((v) => v.version)).toEqual([1])
    })

    it('treats pattern characters literally', async () => {
      const { schemas } = await track(options.create())
      for (const topic of ['a%b', 'a_b', "it's", 'x/*', 'x/**']) {
        await schemas.registerSchema(reg(topic, {}), 0)
      }
      expect((await schemas.listSchemas()).map((v) => v.topic)).toEqual([
        'a%b',
        'a_b',
        "it's",
        'x/*',
        'x/**',
      ])
    })

    it('rejects calls after close with HERALD_STORE_CLOSED', async () => {
      const { owner, schemas } = await track(options.create())
      await owner.close()
      expect(await codeOf(schemas.listSchemas())).toBe('HERALD_STORE_CLOSED')
      expect(await codeOf(schemas.schemaRevision())).toBe('HERALD_STORE_CLOSED')
      if (schemas.schemaRevisionNow !== undefined) {
        const now = schemas.schemaRevisionNow
        expect(await codeOf(Promise.resolve().then(() => now.call(schemas)))).toBe(
          'HERALD_STORE_CLOSED',
        )
      }
      expect(await codeOf(schemas.registerSchema(reg('t', {}), 0))).toBe('HERALD_STORE_CLOSED')
    })

    const { reopen, peer } = options
    if (reopen !== undefined) {
      it('keeps versions across a restart', async () => {
        const { owner, schemas } = await track(options.create())
        await schemas.registerSchema(reg('p/*', { type: 'object' }), 0)
        await schemas.registerSchema(reg('p/*', { type: 'object', required: [] }), 1)
        const before = await schemas.listSchemas()
        await owner.close()
        const again = await track(reopen())
        expect(await again.schemas.listSchemas()).toEqual(before)
        expect(await again.schemas.schemaRevision()).toBe(2)
        expect((await again.schemas.registerSchema(reg('p/*', {}), 2)).version).toBe(3)
      })
    }
    if (peer !== undefined) {
      it('every instance on the backend sees every version, and races resolve across them', async () => {
        const a = await track(options.create())
        const b = await track(peer())
        await a.schemas.registerSchema(reg('n/*', { type: 'object' }), 0)
        expect(await b.schemas.schemaRevision()).toBe(1)
        if (b.schemas.schemaRevisionNow !== undefined) expect(b.schemas.schemaRevisionNow()).toBe(1)
        expect((await b.schemas.listSchemas()).map((v) => v.version)).toEqual([1])
        expect(await codeOf(b.schemas.registerSchema(reg('n/*', {}), 0))).toBe(
          'HERALD_SCHEMA_CONFLICT',
        )
        await b.schemas.registerSchema(reg('n/*', {}), 1)
        expect((await a.schemas.listSchemas()).map((v) => v.version)).toEqual([1, 2])
        const results = await Promise.allSettled([
          a.schemas.registerSchema(reg('n/*', { title: 'a' }), 2),
          b.schemas.registerSchema(reg('n/*', { title: 'b' }), 2),
        ])
        expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1)
        expect(await a.schemas.schemaRevision()).toBe(3)
      })

      it('knownSchemaRevision: an append validated against another revision stores nothing, and teaches the revision', async () => {
        const a = await track(options.create())
        const { append, read } = a.owner
        if (a.schemas.knownSchemaRevision === undefined || append === undefined) return
        const b = await track(peer())
        expect(await a.schemas.schemaRevision()).toBe(0)
        expect(a.schemas.knownSchemaRevision()).toBe(0)
        const [first] = await append([{ topic: 'k/1', data: '1', schemaRevision: 0 }])
        expect(a.schemas.knownSchemaRevision()).toBe(0)
        // Registered on another instance: this one learns it from its next append.
        await b.schemas.registerSchema(reg('k/*', { type: 'number' }), 0)
        expect(await codeOf(append([{ topic: 'k/1', data: 'x', schemaRevision: 0 }]))).toBe(
          'HERALD_SCHEMA_CONFLICT',
        )
        expect(a.schemas.knownSchemaRevision()).toBe(1)
        // Unchecked events, and events validated against the current revision, are appended.
        const [second, third] = await Promise.all([
          append([{ topic: 'k/1', data: '2' }]),
          append([{ topic: 'k/1', data: '3', schemaRevision: 1 }]),
        ])
        expect(second?.length).toBe(1)
        expect(third?.length).toBe(1)
        if (read !== undefined) {
          const page = await read(first?.id, { topics: ['k/1'], limit: 10 })
          expect(page.kind === 'events' && page.events.map((e) => e.data)).toEqual(['2', '3'])
        }
        // A registration on this instance teaches it at once.
        await a.schemas.registerSchema(reg('k/*', { type: 'integer' }), 1)
        expect(a.schemas.knownSchemaRevision()).toBe(2)
      })
    }
  })
}
