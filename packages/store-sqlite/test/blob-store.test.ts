import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BlobStore, EventStore } from '@herald/store'
import { runBlobStoreContract } from '@herald/store/contract'
import { createSqliteEventStore } from '@herald/store-sqlite'
import { afterAll } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-sqlite-blobs-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
let path = ''

function handle(store: EventStore) {
  return { blobs: store.blobs as BlobStore, close: () => store.close() }
}

runBlobStoreContract('sqlite (sidecar directory)', {
  create() {
    path = join(dir, `blobs-${n++}`, 'herald.db')
    return handle(createSqliteEventStore({ path, maxBlobBytes: 2 * 1024 * 1024 }))
  },
  reopen: () => handle(createSqliteEventStore({ path, maxBlobBytes: 2 * 1024 * 1024 })),
  peer: () => handle(createSqliteEventStore({ path, maxBlobBytes: 2 * 1024 * 1024 })),
})
