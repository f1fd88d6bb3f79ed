import { randomUUID } from 'node:crypto'
import type { BlobStore } from '@herald/store'
import { runBlobStoreContract } from '@herald/store/contract'
import { createClient } from '@redis/client'
import { afterAll } from 'vitest'
import { createRedisEventStore, type RedisEventStore } from '../src/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const run = `test-blobs-${randomUUID().slice(0, 8)}`
let last = ''

function handle(store: RedisEventStore) {
  return { blobs: store.blobs as BlobStore, close: () => store.close() }
}
const open = () =>
  handle(createRedisEventStore({ url, namespace: last, maxBlobBytes: 2 * 1024 * 1024 }))

runBlobStoreContract('redis', {
  create() {
    last = `${run}-${randomUUID().slice(0, 8)}`
    return open()
  },
  reopen: open,
  peer: open,
})

afterAll(async () => {
  // Leave the shared Redis as it was.
  const client = createClient({ url, RESP: 2 })
  await client.connect()
  for await (const keys of client.scanIterator({ MATCH: `herald:v1:{${run}-*`, COUNT: 1000 })) {
    if (keys.length > 0) await client.del(keys)
  }
  await client.close()
})
