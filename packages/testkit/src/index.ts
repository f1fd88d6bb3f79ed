export type { BrokerContractOptions } from './broker-contract.js'
export { runBrokerContract } from './broker-contract.js'
export { CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium } from './chromium.js'
export type {
  EventStoreContractOptions,
  EventStoreFactoryOptions,
} from './event-store-contract.js'
export { runEventStoreContract } from './event-store-contract.js'
export type { EventStreamReader } from './event-stream-reader.js'
export { openEventStream } from './event-stream-reader.js'
export type { HubProcess, HubProcessOptions } from './hub-process.js'
export { HERALD_BIN, startHubProcess } from './hub-process.js'
