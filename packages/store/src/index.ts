export type { BlobInfo, BlobInput, BlobStore, StoredBlob } from './blob-store.js'
export { assertBlobInput, isBlobId, MAX_BLOB_ID_LENGTH, toBlobInfo } from './blob-store.js'
export type { CursorOrder, ResetReason } from './cursor.js'
export {
  checkSequenceCursor,
  compareCursors,
  formatSequenceCursor,
  parseSequenceCursor,
  SEQUENCE_CURSOR_WIDTH,
  SEQUENCE_CURSORS,
} from './cursor.js'
export type {
  EventStore,
  ReadFilter,
  ReadPage,
  ReadReset,
  ReadResult,
  StoreHealth,
} from './event-store.js'
export type { AppendInput, StoredEvent } from './events.js'
export { NO_ALTERNATES, topicsOf, toStoredEvent } from './events.js'
export type {
  RetentionOptions,
  RetentionPolicy,
  RetentionRule,
  TopicRetentionRule,
} from './retention.js'
export { resolveRetention } from './retention.js'
export type {
  MemorySchemaStoreOptions,
  SchemaCompatibility,
  SchemaRegistration,
  SchemaStore,
  SchemaVersion,
} from './schema-store.js'
export {
  createMemorySchemaStore,
  schemaConflict,
  schemaRevisionConflict,
  sortSchemaVersions,
} from './schema-store.js'
export type { TailOptions } from './tail.js'
export { tailLog } from './tail.js'
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
export { deriveUpdateId, newLogId, parseUpdateId, updateIdsOf } from './update-id.js'
export type { WakeSignal } from './wake.js'
export { createWakeSignal } from './wake.js'
