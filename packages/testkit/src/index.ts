export type {
  EventStoreContractOptions,
  EventStoreFactoryOptions,
} from './event-store-contract.js'
export { runEventStoreContract } from './event-store-contract.js'
