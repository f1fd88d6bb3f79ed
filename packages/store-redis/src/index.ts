export type { RedisArg, RedisConnection, RedisConnectionOptions } from './connection.js'
export { backoffMs, createRedisConnection, redactUrl } from './connection.js'
export { createRedisBlobStore, REDIS_DEFAULT_MAX_BLOB_BYTES } from './redis-blob-store.js'
export type { RedisEventStore, RedisEventStoreOptions } from './redis-store.js'
export { createRedisEventStore, REDIS_STORE_DEFAULT_RETENTION } from './redis-store.js'
export type {
  RedisIdempotencyOptions,
  RedisRateLimitOptions,
  SharedIdempotencyCache,
  SharedRateLimiter,
} from './shared-limits.js'
export { createRedisIdempotencyCache, createRedisRateLimiter } from './shared-limits.js'
