export type {
  BlobStoreContractOptions,
  BlobStoreHandle,
} from './blob-store.js'
export { runBlobStoreContract } from './blob-store.js'
export type {
  EventStoreContractOptions,
  EventStoreFactoryOptions,
} from './event-store.js'
export { runEventStoreContract } from './event-store.js'
