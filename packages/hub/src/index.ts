export type {
  AppendInput,
  CursorOrder,
  EventStore,
  ReadFilter,
  ReadPage,
  ReadReset,
  ReadResult,
  ResetReason,
  RetentionOptions,
  RetentionPolicy,
  RetentionRule,
  StoredEvent,
  StoreHealth,
  TailOptions,
  TopicMatcher,
  TopicRetentionRule,
} from '@herald/store'
export {
  assertValidTopic,
  assertValidTopicPattern,
  checkSequenceCursor,
  compareCursors,
  createTopicMatcher,
  formatSequenceCursor,
  isTopicPattern,
  MAX_TOPIC_LENGTH,
  parseSequenceCursor,
  patternCovers,
  resolveRetention,
  SEQUENCE_CURSOR_WIDTH,
  SEQUENCE_CURSORS,
  tailLog,
  topicMatches,
  toStoredEvent,
} from '@herald/store'
export type { AdminAccess, AdminGate } from './admin.js'
export { createAdminGate, MIN_ADMIN_TOKEN_LENGTH } from './admin.js'
export type {
  Authenticator,
  AuthOptions,
  MintTokenOptions,
  Principal,
  TokenSource,
} from './auth.js'
export {
  ANONYMOUS,
  canPublish,
  canReceivePrivate,
  canSubscribe,
  createAuthenticator,
  mintToken,
} from './auth.js'
export type { BlobOptions, BlobService } from './blobs.js'
export { blobEventId, createBlobService, DEFAULT_MAX_BLOB_PUBLISH_BYTES } from './blobs.js'
export type {
  ClientsPage,
  ClientsQuery,
  ClientView,
  DashboardAsset,
  DashboardAssets,
  DashboardServices,
  TailEvent,
  Tails,
} from './dashboard-api.js'
export {
  createTails,
  listClients,
  MAX_CLIENTS_PAGE,
  pageBounds,
  TAIL_MAX_PER_SECOND,
} from './dashboard-api.js'
export type {
  ClientPagePart,
  DashboardPeers,
  NodeClientCount,
  NodeReport,
} from './dashboard-peers.js'
export {
  bucketsToRecord,
  compareNodes,
  mergeTopicCounts,
  planClientPages,
  REPORTED_TOPICS,
  totalOf,
} from './dashboard-peers.js'
export { EARLIEST, RESET_EVENT } from './fan-out.js'
export type { Hub, HubOptions, HubStreamOptions, MercureOptions, PublishInput } from './hub.js'
export { createHub } from './hub.js'
export type { IdempotencyCache, IdempotencyOptions } from './idempotency.js'
export { createIdempotencyCache } from './idempotency.js'
export type { MemoryBlobStoreOptions } from './memory-blob-store.js'
export { createMemoryBlobStore, DEFAULT_MAX_BLOB_BYTES } from './memory-blob-store.js'
export type { MemoryEventStoreOptions } from './memory-store.js'
export { createMemoryEventStore, MEMORY_STORE_DEFAULT_RETENTION } from './memory-store.js'
export type { HubMetrics } from './metrics.js'
export { OPENAPI_DOCUMENT } from './openapi.js'
export type { PublishLimits } from './publish-request.js'
export { parseFormPublish, parseJsonPublish, toAppendInput } from './publish-request.js'
export type { RateLimiter, RateLimitOptions } from './rate-limit.js'
export { createRateLimiter } from './rate-limit.js'
export type { SchemaCheck, StandardResult, StandardSchemaV1, TopicSchema } from './schema.js'
export { createSchemaCheck } from './schema.js'
export type { SchemaChange, SchemaChangeKind } from './schema-registry/compatibility.js'
export { findBreakingChanges } from './schema-registry/compatibility.js'
export type {
  RegisteredSchema,
  SchemaHistory,
  SchemaRegistry,
} from './schema-registry/registry.js'
export {
  compareSpecificity,
  createSchemaRegistry,
  SCHEMA_COMPATIBILITIES,
} from './schema-registry/registry.js'
export type {
  HubStats,
  HubStatsOptions,
  LatencyQuantiles,
  NodeStats,
  StatsListener,
  StatsSample,
  StatsSnapshot,
  StoreStats,
  TopicCount,
  TopicStats,
} from './stats.js'
export { createHubStats, quantileFromBuckets } from './stats.js'
