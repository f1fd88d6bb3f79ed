/**
 * Publish idempotency keys and publish rate limits shared by every node through Redis, so a
 * publisher that retries on another node (behind a load balancer) still publishes once, and a
 * caller's rate is counted hub-wide. They match the hub's `IdempotencyCache` and `RateLimiter`
 * shapes structurally (a store never imports the hub).
 */
import { createHash, randomUUID } from 'node:crypto'
import { HeraldError } from '@herald/protocol'
import type { RedisConnection } from './connection.js'

/** Options of {@link createRedisIdempotencyCache}. */
export interface RedisIdempotencyOptions {
  /** How long a key is remembered, in milliseconds. Default 10 minutes. */
  ttlMs?: number | undefined
  /**
   * How long a key stays claimed by a request still running on some node (a node that dies
   * mid-publish frees it after this). Default 30 s.
   */
  pendingTtlMs?: number | undefined
  /** How long a retry waits for the first request's answer before a 503. Default 5 s. */
  waitMs?: number | undefined
}

/** The hub's idempotency cache contract (see `@herald/hub` `IdempotencyCache`). */
export interface SharedIdempotencyCache<T> {
  run(key: string, body: string, fn: () => Promise<T>): Promise<{ answer: T; replayed: boolean }>
}

interface Entry<T> {
  d: string
  s: 'pending' | 'done'
  o: string
  a?: T
}

// Deletes the claim only if it is still ours and pending (a failure is not remembered).
const RELEASE = `
local v = redis.call('GET', ARGV[1])
if v and string.find(v, ARGV[2], 1, true) then redis.call('DEL', ARGV[1]) end
return 0
`
// Stores the answer only over our own claim.
const SETTLE = `
local v = redis.call('GET', ARGV[1])
if v and string.find(v, ARGV[2], 1, true) then
  redis.call('SET', ARGV[1], ARGV[3], 'PX', ARGV[4])
end
return 0
`

const sha = (s: string): string => createHash('sha256').update(s).digest('base64url')

/**
 * An idempotency cache in Redis (`herald:v1:{ns}:idem:<sha256 of key>`). The first request
 * with a key claims it (`SET NX`); retries anywhere get its answer (`replayed: true`), wait
 * while it runs, and get 422 `HERALD_IDEMPOTENCY_KEY_REUSED` for another body. Answers must
 * be JSON-serialisable.
 */
export function createRedisIdempotencyCache<T>(
  connection: RedisConnection,
  prefix: string,
  options: RedisIdempotencyOptions = {},
): SharedIdempotencyCache<T> {
  const ttlMs = options.ttlMs ?? 10 * 60_000
  const pendingTtlMs = options.pendingTtlMs ?? 30_000
  const waitMs = options.waitMs ?? 5000
  return {
    async run(key, body, fn) {
      const k = `${prefix}idem:${sha(key)}`
      const digest = sha(body)
      const deadline = Date.now() + waitMs
      for (;;) {
        const owner = randomUUID()
        const claim: Entry<T> = { d: digest, s: 'pending', o: owner }
        const set = await connection.command<string | null>([
          'SET',
          k,
          JSON.stringify(claim),
          'NX',
          'PX',
          String(pendingTtlMs),
        ])
        if (set === 'OK') {
          let answer: T
          try {
            answer = await fn()
          } catch (error) {
            await connection.script(RELEASE, [k, owner]).catch(() => {})
            throw error
          }
          const done: Entry<T> = { d: digest, s: 'done', o: owner, a: answer }
          await connection
            .script(SETTLE, [k, owner, JSON.stringify(done), String(ttlMs)])
            .catch(() => {})
          return { answer, replayed: false }
        }
        const raw = await connection.command<string | null>(['GET', k])
        if (raw === null) continue // released or expired meanwhile: claim it again
        const entry = JSON.parse(raw) as Entry<T>
        if (entry.d !== digest) {
          throw new HeraldError(
            'HERALD_IDEMPOTENCY_KEY_REUSED',
            'this Idempotency-Key was used for a different request body',
            { status: 422 },
          )
        }
        if (entry.s === 'done') return { answer: entry.a as T, replayed: true }
        if (Date.now() > deadline) {
          throw new HeraldError(
            'HERALD_STORE_UNAVAILABLE',
            'a request with this Idempotency-Key is still running on another node; retry later',
            { status: 503 },
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
    },
  }
}

/** Options of {@link createRedisRateLimiter}: `rate` requests/s per caller, bursts of `burst`. */
export interface RedisRateLimitOptions {
  rate: number
  burst?: number | undefined
}

/** The hub's rate limiter contract (see `@herald/hub` `RateLimiter`), asynchronous here. */
export interface SharedRateLimiter {
  /** `0` when allowed, else the seconds to wait. */
  take(key: string): Promise<number>
}

/** The longest a publish waits for the shared rate limiter before it is let through. */
export const RATE_LIMIT_TIMEOUT_MS = 1000

// A token bucket per caller on Redis's own clock (nodes' clocks never disagree about it).
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local key = ARGV[3]
local b = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(b[1] or burst)
local at = tonumber(b[2] or now)
tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', key, math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
`

/**
 * A publish rate limiter shared by every node (`herald:v1:{ns}:rate:<sha256 of caller>`).
 * While Redis is unreachable it lets requests through at once, and it waits at most
 * {@link RATE_LIMIT_TIMEOUT_MS} for an answer: the publish itself then fails with 503 within
 * the store's deadline (not after the limiter's deadline plus the store's), and a limiter
 * outage never blocks a healthy store.
 *
 * @throws {TypeError} for a non-positive rate or burst.
 */
export function createRedisRateLimiter(
  connection: RedisConnection,
  prefix: string,
  options: RedisRateLimitOptions,
): SharedRateLimiter {
  const { rate } = options
  const burst = options.burst ?? rate * 2
  if (!(rate > 0) || !Number.isFinite(rate)) throw new TypeError('rate limit: rate must be > 0')
  if (!(burst >= 1) || !Number.isFinite(burst))
    throw new TypeError('rate limit: burst must be >= 1')
  return {
    async take(key) {
      const k = `${prefix}rate:${sha(key)}`
      if (!connection.ready) return 0
      try {
        const wait = await connection.script<string>(
          TAKE,
          [String(rate), String(burst), k],
          RATE_LIMIT_TIMEOUT_MS,
        )
        return Number(wait)
      } catch {
        return 0
      }
    },
  }
}
