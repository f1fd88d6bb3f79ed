import { randomUUID } from 'node:crypto'
import type { BlobStore } from '@herald/store'
import { runBlobStoreContract } from '@herald/store/contract'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll } from 'vitest'
import { createNatsEventStore, type NatsEventStore } from '../src/index.js'

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const run = `test-blobs-${randomUUID().slice(0, 8)}`
let last = ''

function handle(store: NatsEventStore) {
  return { blobs: store.blobs as BlobStore, close: () => store.close() }
}
const open = () =>
  handle(
    createNatsEventStore({
      url,
      namespace: last,
      maxBlobBytes: 2 * 1024 * 1024,
      maxBlobStoreBytes: 64 * 1024 * 1024,
    }),
  )

runBlobStoreContract('nats (JetStream Object Store)', {
  create() {
    last = `${run}-${randomUUID().slice(0, 8)}`
    return open()
  },
  reopen: open,
  peer: open,
})

afterAll(async () => {
  // Leave the shared NATS as it was: the log streams and the blob buckets (OBJ_*).
  const nc = await connect({ servers: url })
  const jsm = await jetstreamManager(nc)
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`herald-v1-${run}`) || name.startsWith(`OBJ_herald-v1-${run}`)) {
      await jsm.streams.delete(name)
    }
  }
  await nc.close()
})
