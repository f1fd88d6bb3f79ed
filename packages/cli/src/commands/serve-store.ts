/**
 * The `--store` registry: one place that turns a store URL into an event log (and, for Redis,
 * the shared idempotency cache and rate limiter). Redis and NATS drivers load by dynamic
 * import, only when asked for, so `herald serve` on SQLite never loads them.
 */
import { resolve } from 'node:path'
import type { EventStore, RetentionOptions } from '@herald/hub'
import { createMemoryEventStore } from '@herald/hub'
import { HeraldError } from '@herald/protocol'
import { createSqliteEventStore } from '@herald/store-sqlite'

/** What `--store` opened. */
export interface OpenedStore {
  store: EventStore
  /** `redis://` only: publish rate limits shared by every node (`rate`, `burst`). */
  sharedRateLimiter?:
    | ((rate: number, burst: number) => { take(key: string): Promise<number> })
    | undefined
  /** `redis://` only: Idempotency-Key answers shared by every node. */
  sharedIdempotency?:
    | (<T>() => {
        run(
          key: string,
          body: string,
          fn: () => Promise<T>,
        ): Promise<{ answer: T; replayed: boolean }>
      })
    | undefined
}

/** Backend connection problems (the store reconnects by itself), for the log. */
export type StoreErrorSink = (error: Error) => void

/**
 * Opens the store named by `spec`: `memory`, `sqlite:PATH`, `redis://...` (`rediss://`) or
 * `nats://...`, each with an optional `?namespace=NAME` for the networked ones.
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG` or `HERALD_UNSUPPORTED_STORE`.
 */
export async function openStore(
  spec: string,
  retention: RetentionOptions,
  onError: StoreErrorSink = () => {},
): Promise<OpenedStore> {
  if (spec === 'memory') return { store: createMemoryEventStore({ retention }) }
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length)
    if (path === '')
      throw new HeraldError(
        'HERALD_INVALID_CONFIG',
        '--store sqlite: needs a path, e.g. sqlite:./herald-data/herald.db',
      )
    return {
      store: createSqliteEventStore({
        path: path === ':memory:' ? path : resolve(path),
        retention,
      }),
    }
  }
  try {
    if (/^rediss?:\/\//.test(spec)) {
      const redis = await import('@herald/store-redis')
      const store = redis.createRedisEventStore({ url: spec, retention, onError })
      return {
        store,
        sharedRateLimiter: (rate, burst) => store.sharedRateLimiter({ rate, burst }),
        sharedIdempotency: () => store.sharedIdempotencyCache(),
      }
    }
    if (/^nats:\/\//.test(spec)) {
      const nats = await import('@herald/store-nats')
      return { store: nats.createNatsEventStore({ url: spec, retention, onError }) }
    }
  } catch (error) {
    if (error instanceof TypeError) {
      throw new HeraldError('HERALD_INVALID_CONFIG', `--store: ${error.message}`)
    }
    throw error
  }
  throw new HeraldError(
    'HERALD_UNSUPPORTED_STORE',
    `--store ${spec}: expected memory, sqlite:PATH, redis://HOST:PORT or nats://HOST:PORT`,
  )
}
