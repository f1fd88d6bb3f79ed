/**
 * The in-memory blob store: a map of blobs, bounded in total bytes. It lives and dies with
 * the memory event store that owns it.
 */
import { HeraldError } from '@herald/protocol'
import type { BlobInfo, BlobStore, StoredBlob } from '@herald/store'
import { assertBlobInput, toBlobInfo } from '@herald/store'

/** Options of {@link createMemoryBlobStore}. */
export interface MemoryBlobStoreOptions {
  /** Largest blob, in bytes. Default 64 MiB. */
  maxBlobBytes?: number | undefined
  /** Bound on the bytes of all blobs together. Default 256 MiB. */
  maxTotalBytes?: number | undefined
  /** Throws `HERALD_STORE_CLOSED` once the owner closed. */
  assertOpen?: (() => void) | undefined
}

/** Default {@link BlobStore.maxBlobBytes} of the built-in stores: 64 MiB. */
export const DEFAULT_MAX_BLOB_BYTES = 64 * 1024 * 1024

/** Creates an in-memory {@link BlobStore}. */
export function createMemoryBlobStore(options: MemoryBlobStoreOptions = {}): BlobStore {
  const maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES
  const maxTotalBytes = options.maxTotalBytes ?? 256 * 1024 * 1024
  const assertOpen = options.assertOpen ?? (() => {})
  const blobs = new Map<string, StoredBlob>()
  let total = 0
  return {
    maxBlobBytes,
    async put(input) {
      assertOpen()
      assertBlobInput(input, maxBlobBytes)
      if (blobs.has(input.id)) throw new TypeError(`blob ${input.id} is already stored`)
      if (total + input.bytes.length > maxTotalBytes) {
        throw new HeraldError(
          'HERALD_BLOB_STORE_FULL',
          `the memory blob store holds ${total} of ${maxTotalBytes} bytes: no room for ${input.bytes.length} more`,
          { status: 507 },
        )
      }
      const info = toBlobInfo(input)
      // A copy: the caller's buffer may be reused.
      blobs.set(input.id, { info, bytes: Uint8Array.from(input.bytes) })
      total += input.bytes.length
      return info
    },
    async link(id, eventId) {
      assertOpen()
      const blob = blobs.get(id)
      if (blob === undefined) return false
      blobs.set(id, { info: { ...blob.info, eventId }, bytes: blob.bytes })
      return true
    },
    async get(id) {
      assertOpen()
      return blobs.get(id)
    },
    async delete(id) {
      assertOpen()
      const blob = blobs.get(id)
      if (blob === undefined) return false
      blobs.delete(id)
      total -= blob.bytes.length
      return true
    },
    async list(after, limit) {
      assertOpen()
      const out: BlobInfo[] = []
      const ids = [...blobs.keys()].filter((id) => after === undefined || id > after).sort()
      for (const id of ids.slice(0, limit)) out.push((blobs.get(id) as StoredBlob).info)
      return out
    },
  }
}
