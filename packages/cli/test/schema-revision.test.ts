/**
 * On Redis, the schema registry does not read the store's revision before each publish: the
 * append script checks the revision the events were validated against and answers the current
 * one (`knownSchemaRevision`). A version registered on another node must still apply to the
 * next publish that starts after its registration was answered. Two hubs in this process, each
 * on its own connection to a private redis-server.
 */

import { createHub, type Hub } from '@herald/hub'
import { isHeraldError } from '@herald/protocol'
import { createRedisEventStore, type RedisEventStore } from '@herald/store-redis'
import { type BackendServer, startRedisServer } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

describe('schema revision on Redis: checked by the append, not read per publish', () => {
  let server: BackendServer
  const hubs: Hub[] = []
  const stores: RedisEventStore[] = []
  beforeAll(async () => {
    server = await startRedisServer({ persistence: 'none' })
  })
  afterAll(async () => {
    for (const hub of hubs) await hub.close()
    for (const store of stores) await store.close()
    await server.dispose()
  })

  /** A hub on the shared namespace, and a count of its store's revision reads. */
  function node(): { hub: Hub; reads: () => number } {
    const store = createRedisEventStore({ url: server.url, namespace: 'revision' })
    stores.push(store)
    const schemas = store.schemas
    if (schemas === undefined) throw new Error('no schema store')
    let reads = 0
    const read = schemas.schemaRevision.bind(schemas)
    schemas.schemaRevision = () => {
      reads++
      return read()
    }
    const hub = createHub({ store, publishRateLimit: false })
    hubs.push(hub)
    return { hub, reads: () => reads }
  }

  async function register(hub: Hub, schema: unknown): Promise<number> {
    const res = await hub.fetch(
      new Request('http://hub/schemas', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'orders/*', schema }),
      }),
    )
    expect(res.status).toBe(201)
    return ((await res.json()) as { version: number }).version
  }

  async function codeOf(promise: Promise<unknown>): Promise<string> {
    try {
      await promise
    } catch (error) {
      return isHeraldError(error) ? error.code : String(error)
    }
    return 'resolved'
  }

  it('reads the revision once, then learns it from the appends; a version registered on another node applies to the next publish', async () => {
    const a = node()
    const b = node()
    for (let i = 0; i < 20; i++) await a.hub.publish({ topic: 'orders/1', data: { total: i } })
    // The first validation reads the revision; the appends answer it from then on.
    expect(a.reads()).toBe(1)
    expect(await register(b.hub, { type: 'object', required: ['total'] })).toBe(1)
    // A's cache is of revision 0, which its last append answered: its append is refused, and
    // the hub validates again against the version B registered.
    expect(await codeOf(a.hub.publish({ topic: 'orders/1', data: { count: 1 } }))).toBe(
      'HERALD_SCHEMA_VIOLATION',
    )
    const [ok] = await a.hub.publish({ topic: 'orders/1', data: { total: 1 } })
    expect(ok?.schemaVersion).toBe(1)
    // Twice more, and from a publish in flight while B registers.
    expect(
      await register(b.hub, { type: 'object', required: ['total'], properties: { n: {} } }),
    ).toBe(2)
    const [again] = await a.hub.publish({ topic: 'orders/2', data: { total: 2 } })
    expect(again?.schemaVersion).toBe(2)
    const racing = a.hub.publish({ topic: 'orders/3', data: { total: 3 } })
    const third = register(b.hub, {
      type: 'object',
      required: ['total'],
      properties: { n: {}, m: {} },
    })
    const [raced] = await racing
    expect(await third).toBe(3)
    expect([2, 3]).toContain(raced?.schemaVersion)
    // One read per revision A had to catch up with, not one per publish.
    expect(a.reads()).toBeLessThanOrEqual(4)
  })
})
