/**
 * The contract every `BlobStore` honours, as one vitest suite. A store package calls
 * {@link runBlobStoreContract} from its own test file.
 */
import { createHash, randomBytes } from 'node:crypto'
import { isHeraldError } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import type { BlobInput, BlobStore } from '../blob-store.js'

/** A blob store under test and how to release it. */
export interface BlobStoreHandle {
  /** The store. */
  blobs: BlobStore
  /** Releases it (closes the event store that owns it). */
  close(): Promise<void>
}

/** How the contract creates blob stores. */
export interface BlobStoreContractOptions {
  /** Creates a fresh, empty store. */
  create(): BlobStoreHandle | Promise<BlobStoreHandle>
  /** Persistent stores only: opens a store on the data of the one last created (after it closed). */
  reopen?: (() => BlobStoreHandle | Promise<BlobStoreHandle>) | undefined
  /** Shared backends only: ANOTHER instance on the backend of the store last created. */
  peer?: (() => BlobStoreHandle | Promise<BlobStoreHandle>) | undefined
}

let counter = 0

function blob(bytes: Uint8Array, extra: Partial<BlobInput> = {}): BlobInput {
  counter += 1
  return {
    id: `b${Date.now().toString(36)}${counter.toString(36)}${randomBytes(4).toString('hex')}`,
    topic: 'files/a',
    contentType: 'application/octet-stream',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    private: false,
    createdAt: 1_700_000_000_000,
    after: undefined,
    bytes,
    ...extra,
  }
}

/** Every byte value, then a pseudo-random tail: what a text path would mangle. */
function binary(size: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = i < 256 ? i : (i * 7919 + 13) & 0xff
  return out
}

/** Registers the blob store contract suite for one implementation. */
export function runBlobStoreContract(name: string, options: BlobStoreContractOptions): void {
  describe(`BlobStore contract: ${name}`, () => {
    const open: BlobStoreHandle[] = []
    afterEach(async () => {
      await Promise.all(open.splice(0).map((h) => h.close().catch(() => {})))
    })
    async function create(): Promise<BlobStore> {
      const handle = await options.create()
      open.push(handle)
      return handle.blobs
    }

    it('round-trips bytes (every byte value) and metadata; get of an unknown id is undefined', async () => {
      const blobs = await create()
      const input = blob(binary(70_000), {
        topic: 'files/x',
        contentType: 'image/png',
        private: true,
        after: '0000000000000007',
      })
      const info = await blobs.put(input)
      expect(info).toEqual({
        id: input.id,
        topic: 'files/x',
        contentType: 'image/png',
        size: 70_000,
        sha256: input.sha256,
        private: true,
        createdAt: input.createdAt,
        after: '0000000000000007',
        eventId: undefined,
      })
      const got = await blobs.get(input.id)
      expect(got?.info).toEqual(info)
      expect(Buffer.from(got?.bytes ?? []).equals(Buffer.from(input.bytes))).toBe(true)
      expect(await blobs.get('nope')).toBeUndefined()
      const empty = blob(new Uint8Array(0))
      await blobs.put(empty)
      expect((await blobs.get(empty.id))?.bytes.length).toBe(0)
    })

    it('links a blob to its event; link of an unknown blob is false', async () => {
      const blobs = await create()
      const input = blob(binary(10))
      await blobs.put(input)
      expect(await blobs.link(input.id, '0000000000000042')).toBe(true)
      expect((await blobs.get(input.id))?.info.eventId).toBe('0000000000000042')
      expect(await blobs.link('missing', '0000000000000043')).toBe(false)
      expect(await blobs.get('missing')).toBeUndefined()
    })

    it('deletes: the blob is gone, a second delete is false', async () => {
      const blobs = await create()
      const a = blob(binary(300))
      const b = blob(binary(5))
      await blobs.put(a)
      await blobs.put(b)
      expect(await blobs.delete(a.id)).toBe(true)
      expect(await blobs.get(a.id)).toBeUndefined()
      expect(await blobs.delete(a.id)).toBe(false)
      expect((await blobs.get(b.id))?.bytes.length).toBe(5)
    })

    it('lists every blob in id order, page by page', async () => {
      const blobs = await create()
      const ids: string[] = []
      for (let i = 0; i < 7; i++) {
        const input = blob(binary(i + 1), { id: `list-${String(i).padStart(2, '0')}` })
        ids.push(input.id)
        await blobs.put(input)
      }
      const seen: string[] = []
      let after: string | undefined
      for (let pages = 0; pages < 10; pages++) {
        const page = await blobs.list(after, 3)
        expect(page.length).toBeLessThanOrEqual(3)
        if (page.length === 0) break
        for (const info of page) {
          seen.push(info.id)
          expect(info.size).toBe(Number(info.id.slice(5)) + 1)
        }
        after = page.at(-1)?.id
      }
      expect(seen).toEqual(ids)
    })

    it('refuses a blob past maxBlobBytes (413), a bad id and a repeated id, storing nothing', async () => {
      const blobs = await create()
      expect(blobs.maxBlobBytes).toBeGreaterThanOrEqual(1024 * 1024)
      const big = blob(new Uint8Array(blobs.maxBlobBytes + 1))
      const error = await blobs.put(big).catch((e: unknown) => e)
      expect(isHeraldError(error) && error.code).toBe('HERALD_PAYLOAD_TOO_LARGE')
      expect(await blobs.get(big.id)).toBeUndefined()
      await expect(blobs.put(blob(binary(1), { id: 'has/slash' }))).rejects.toThrow(TypeError)
      const once = blob(binary(3))
      await blobs.put(once)
      await expect(blobs.put({ ...once, bytes: binary(4) })).rejects.toThrow(TypeError)
      expect((await blobs.get(once.id))?.bytes.length).toBe(3)
      expect(await blobs.list(undefined, 10)).toHaveLength(1)
    })

    if (options.reopen !== undefined) {
      const reopen = options.reopen
      it('keeps blobs and links across a restart', async () => {
        const handle = await options.create()
        const input = blob(binary(1234), { contentType: 'text/plain; charset=utf-8' })
        await handle.blobs.put(input)
        await handle.blobs.link(input.id, '0000000000000009')
        await handle.close()
        const again = await reopen()
        open.push(again)
        const got = await again.blobs.get(input.id)
        expect(got?.info.eventId).toBe('0000000000000009')
        expect(got?.info.contentType).toBe('text/plain; charset=utf-8')
        expect(Buffer.from(got?.bytes ?? []).equals(Buffer.from(input.bytes))).toBe(true)
      })
    }

    if (options.peer !== undefined) {
      const peer = options.peer
      it('a blob put on one instance is read, linked and deleted on another', async () => {
        const blobs = await create()
        const handle = await peer()
        open.push(handle)
        const input = blob(binary(2000))
        await blobs.put(input)
        expect((await handle.blobs.get(input.id))?.bytes.length).toBe(2000)
        expect(await handle.blobs.link(input.id, '0000000000000003')).toBe(true)
        expect((await blobs.get(input.id))?.info.eventId).toBe('0000000000000003')
        expect(await handle.blobs.delete(input.id)).toBe(true)
        expect(await blobs.get(input.id)).toBeUndefined()
      })
    }
  })
}
