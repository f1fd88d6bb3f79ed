import { createMemoryBlobStore, createMemoryEventStore } from '@herald/hub'
import { isHeraldError } from '@herald/protocol'
import type { BlobStore } from '@herald/store'
import { runBlobStoreContract } from '@herald/store/contract'
import { describe, expect, it } from 'vitest'

runBlobStoreContract('memory', {
  create() {
    const store = createMemoryEventStore()
    return { blobs: store.blobs as BlobStore, close: () => store.close() }
  },
})

describe('memory blob store specifics', () => {
  it('bounds the bytes of all blobs together: past maxTotalBytes a put gets HERALD_BLOB_STORE_FULL', async () => {
    const blobs = createMemoryBlobStore({ maxBlobBytes: 1000, maxTotalBytes: 2500 })
    const put = (id: string) =>
      blobs.put({
        id,
        topic: 't',
        contentType: 'application/octet-stream',
        sha256: '0'.repeat(64),
        private: false,
        createdAt: 0,
        after: undefined,
        bytes: new Uint8Array(1000),
      })
    await put('a')
    await put('b')
    const error = await put('c').catch((e: unknown) => e)
    expect(isHeraldError(error) && error.code).toBe('HERALD_BLOB_STORE_FULL')
    await blobs.delete('a')
    await put('c')
    expect((await blobs.list(undefined, 10)).map((b) => b.id)).toEqual(['b', 'c'])
  })
})
