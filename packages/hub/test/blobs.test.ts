/**
 * The blob lifecycle at the library level, on a real node:http server: a failed append
 * leaves no blob behind; the sweep deletes blobs whose events left the log (and orphans past
 * their grace) and nothing else; a store without update-id lookup (`findCursor`) still ties
 * each blob to its event.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BlobService, EventStore, HubOptions } from '@herald/hub'
import { createBlobService, createHub, createMemoryEventStore } from '@herald/hub'
import { HeraldError } from '@herald/protocol'
import type { BlobStore } from '@herald/store'
import { afterEach, describe, expect, it } from 'vitest'

const silent = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Parameters<
  typeof createBlobService
>[2]

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function start(store: EventStore, options: Partial<HubOptions> = {}) {
  const hub = createHub({ store, stream: { heartbeatMs: 0 }, ...options })
  const server = createServer((req, res) => hub.handleNode(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    await hub.close()
    await store.close().catch(() => {})
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { hub, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

async function publishBlob(url: string, topic: string, size = 100) {
  const response = await fetch(`${url}/publish?topic=${topic}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(size).fill(9),
  })
  return { status: response.status, body: (await response.json()) as { id: string } }
}

/** The blob ids in the store. */
async function ids(blobs: BlobStore): Promise<string[]> {
  return (await blobs.list(undefined, 1000)).map((b) => b.id)
}

describe('blob lifecycle', () => {
  it('a failed append deletes the blob: nothing is left that could ever be served', async () => {
    const memory = createMemoryEventStore()
    const store: EventStore = {
      ...memory,
      blobs: memory.blobs,
      append: () =>
        Promise.reject(new HeraldError('HERALD_STORE_UNAVAILABLE', 'down', { status: 503 })),
    }
    const { url } = await start(store, { blobs: { sweepIntervalMs: 0 } })
    const answer = await publishBlob(url, 'files/a')
    expect(answer.status).toBe(503)
    expect(await ids(memory.blobs as BlobStore)).toEqual([])
  })

  it('the sweep deletes blobs whose events left the log and old orphans, and nothing else', async () => {
    let clock = 1_000_000
    const store = createMemoryEventStore({ retention: { maxEvents: 2 } })
    cleanups.push(() => store.close())
    const blobs = store.blobs as BlobStore
    const service = createBlobService(
      store,
      { sweepIntervalMs: 0, orphanGraceMs: 60_000 },
      silent,
      () => clock,
    ) as BlobService
    const publish = async () => {
      const { event, blob } = service.prepare(
        new URLSearchParams({ topic: 'files/a' }),
        'x/y',
        new Uint8Array(10),
      )
      await service.publish(blob, event, (events) => store.append(events))
      return blob.id
    }
    const a = await publish()
    const b = await publish()
    // An orphan: a blob whose publish died before its append.
    await blobs.put({
      id: 'orphan',
      topic: 'files/a',
      contentType: 'x/y',
      sha256: '0'.repeat(64),
      private: false,
      createdAt: clock,
      after: undefined,
      bytes: new Uint8Array(3),
    })
    expect(await service.find('orphan')).toBeUndefined()
    // Nothing left the log yet, the orphan is within its grace: the sweep keeps all three.
    expect(await service.sweep()).toBe(0)
    // A third event pushes the first out of the log (maxEvents 2).
    const c = await publish()
    expect(await service.find(a)).toBeUndefined()
    expect(await service.sweep()).toBe(1)
    expect((await ids(blobs)).sort()).toEqual([b, c, 'orphan'].sort())
    // Past its grace, the orphan goes; blobs whose events are retained stay.
    clock += 60_001
    expect(await service.sweep()).toBe(1)
    expect((await ids(blobs)).sort()).toEqual([b, c].sort())
    expect((await service.find(b))?.bytes.length).toBe(10)
  })

  it('without update-id lookup (no findCursor), a blob is still tied to its event', async () => {
    const memory = createMemoryEventStore({ retention: { maxEvents: 2 } })
    cleanups.push(() => memory.close())
    const { findCursor: _, ...rest } = memory
    const store: EventStore = { ...rest, cursors: memory.cursors, blobs: memory.blobs }
    const service = createBlobService(store, { sweepIntervalMs: 0 }, silent) as BlobService
    const { event, blob } = service.prepare(
      new URLSearchParams({ topic: 'files/b' }),
      'x/y',
      new Uint8Array(4),
    )
    // Put but not yet appended: not served.
    await memory.blobs?.put({ ...blob, after: undefined })
    expect(await service.find(blob.id)).toBeUndefined()
    await memory.blobs?.delete(blob.id)
    await service.publish(blob, event, (events) => store.append(events))
    expect((await service.find(blob.id))?.info.eventId).toBeDefined()
    // Unlinked (a link lost): found through `after`.
    const second = service.prepare(
      new URLSearchParams({ topic: 'files/b' }),
      'x/y',
      new Uint8Array(5),
    )
    await service.publish(second.blob, second.event, async (events) => store.append(events))
    await memory.blobs?.delete(second.blob.id)
    await memory.blobs?.put({ ...second.blob, after: undefined })
    expect((await service.find(second.blob.id))?.bytes.length).toBe(5)
    // Two more events: both blobs' events leave the log.
    await store.append([
      { topic: 'other', data: '1' },
      { topic: 'other', data: '2' },
    ])
    expect(await service.find(blob.id)).toBeUndefined()
    expect(await service.find(second.blob.id)).toBeUndefined()
  })
})
