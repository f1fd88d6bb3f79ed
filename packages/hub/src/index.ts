export type {
  AppendInput,
  Broker,
  EventStore,
  ReadFilter,
  ReadPage,
  ReadReset,
  ReadResult,
  ResetReason,
  StoreBounds,
  StoredEvent,
} from './event-store.js'
export {
  compareCursors,
  formatSequenceCursor,
  parseSequenceCursor,
  SEQUENCE_CURSOR_WIDTH,
} from './event-store.js'
export { createMemoryBroker } from './memory-broker.js'
export type { MemoryEventStoreOptions } from './memory-store.js'
export { createMemoryEventStore, MEMORY_STORE_DEFAULT_RETENTION } from './memory-store.js'
export type {
  RetentionOptions,
  RetentionPolicy,
  RetentionRule,
  TopicRetentionRule,
} from './retention.js'
export { resolveRetention } from './retention.js'
export type { TopicMatcher } from './topic.js'
export {
  assertValidTopic,
  assertValidTopicPattern,
  createTopicMatcher,
  isTopicPattern,
  MAX_TOPIC_LENGTH,
  patternCovers,
  topicMatches,
} from './topic.js'
