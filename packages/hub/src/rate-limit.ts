/**
 * Token-bucket rate limiting, keyed by caller (token or IP). Memory is bounded: buckets
 * that refilled completely carry no information and are dropped when the table is full.
 */

/** Publish rate limit: `rate` requests per second on average, bursts up to `burst`. */
export interface RateLimitOptions {
  /** Sustained requests per second per caller. */
  rate: number
  /** Requests a caller may make at once after being idle. Default `2 * rate`. */
  burst?: number | undefined
}

/** A rate limiter. */
export interface RateLimiter {
  /**
   * Takes one request from `key`'s bucket: `0` when allowed, otherwise the seconds to wait
   * before the next request would be allowed.
   */
  take(key: string): number | Promise<number>
}

interface Bucket {
  tokens: number
  at: number
}

const MAX_KEYS = 10_000

/**
 * Creates a {@link RateLimiter}.
 *
 * @throws {TypeError} for a non-positive rate or burst.
 */
export function createRateLimiter(
  options: RateLimitOptions,
  now: () => number = Date.now,
): RateLimiter {
  const { rate } = options
  const burst = options.burst ?? rate * 2
  if (!(rate > 0) || !Number.isFinite(rate)) throw new TypeError('rate limit: rate must be > 0')
  if (!(burst >= 1) || !Number.isFinite(burst))
    throw new TypeError('rate limit: burst must be >= 1')
  const buckets = new Map<string, Bucket>()

  function sweep(t: number): void {
    for (const [key, bucket] of buckets) {
      if (bucket.tokens + ((t - bucket.at) / 1000) * rate >= burst) buckets.delete(key)
    }
    // Still full of busy callers: forget the oldest half rather than grow without bound.
    if (buckets.size >= MAX_KEYS) {
      let drop = buckets.size / 2
      for (const key of buckets.keys()) {
        if (drop-- <= 0) break
        buckets.delete(key)
      }
    }
  }

  return {
    take(key) {
      const t = now()
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        if (buckets.size >= MAX_KEYS) sweep(t)
        bucket = { tokens: burst, at: t }
        buckets.set(key, bucket)
      } else {
        bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * rate)
        bucket.at = t
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return 0
      }
      return (1 - bucket.tokens) / rate
    },
  }
}
