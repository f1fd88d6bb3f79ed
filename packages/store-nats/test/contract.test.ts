import { randomUUID } from 'node:crypto'
import { runEventStoreContract, runSchemaStoreContract } from '@herald/store/contract'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll } from 'vitest'
import { createNatsEventStore } from '../src/index.js'

const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const run = `test-${randomUUID().slice(0, 8)}`
let last = ''

runEventStoreContract('nats', {
  create(options) {
    last = `${run}-${randomUUID().slice(0, 8)}`
    return createNatsEventStore({ url, namespace: last, ...options })
  },
  reopen(options) {
    return createNatsEventStore({ url, namespace: last, ...options })
  },
  // Another node on the same log.
  peer(options) {
    return createNatsEventStore({ url, namespace: last, ...options })
  },
  // Larger than the server's max_payload (1 MiB): refused before anything is published.
  refusedInput: { topic: 'r', data: 'x'.repeat(1_100_000) },
})

let schemaNamespace = ''
runSchemaStoreContract('nats', {
  create() {
    schemaNamespace = `${run}-s${randomUUID().slice(0, 8)}`
    return createNatsEventStore({ url, namespace: schemaNamespace })
  },
  reopen: () => createNatsEventStore({ url, namespace: schemaNamespace }),
  peer: () => createNatsEventStore({ url, namespace: schemaNamespace }),
})

afterAll(async () => {
  // Leave the shared NATS as it was.
  const nc = await connect({ servers: url })
  const jsm = await jetstreamManager(nc)
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`herald-v1-${run}`)) await jsm.streams.delete(name)
  }
  await nc.close()
})
