import { createMemoryEventStore } from '@herald/hub'
import { runEventStoreContract } from '@herald/testkit'

runEventStoreContract('memory', {
  create: (options) => createMemoryEventStore(options),
})
