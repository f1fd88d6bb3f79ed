import { randomUUID } from 'node:crypto'
import { runEventStoreContract, runSchemaStoreContract } from '@herald/store/contract'
import { createClient } from '@redis/client'
import { afterAll } from 'vitest'
import { createRedisEventStore } from '../src/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const run = `test-${randomUUID().slice(0, 8)}`
let last = ''

runEventStoreContract('redis', {
  create(options) {
    last = `${run}-${randomUUID().slice(0, 8)}`
    return createRedisEventStore({ url, namespace: last, ...options })
  },
  reopen(options) {
    return createRedisEventStore({ url, namespace: last, ...options })
  },
  // Another node on the same log.
  peer(options) {
    return createRedisEventStore({ url, namespace: last, ...options })
  },
})

let schemaNamespace = ''
runSchemaStoreContract('redis', {
  create() {
    schemaNamespace = `${run}-s${randomUUID().slice(0, 8)}`
    return createRedisEventStore({ url, namespace: schemaNamespace })
  },
  reopen: () => createRedisEventStore({ url, namespace: schemaNamespace }),
  peer: () => createRedisEventStore({ url, namespace: schemaNamespace }),
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
