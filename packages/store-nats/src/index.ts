export type { NatsBlobStoreOptions } from './nats-blob-store.js'
export { createNatsBlobStore } from './nats-blob-store.js'
export type { NatsEventStore, NatsEventStoreOptions } from './nats-store.js'
export {
  createNatsEventStore,
  NATS_STORE_DEFAULT_RETENTION,
  patternsIntersect,
} from './nats-store.js'
export { encodeSegment, encodeTopic } from './subjects.js'
