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
export type {
  SchemaStoreContractOptions,
  SchemaStoreOwner,
} from './schema-store.js'
export { runSchemaStoreContract } from './schema-store.js'
