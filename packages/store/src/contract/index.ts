export type {
  EventStoreContractOptions,
  EventStoreFactoryOptions,
} from './event-store.js'
export { runEventStoreContract } from './event-store.js'
