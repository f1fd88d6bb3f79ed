/**
 * How long to wait before the next connection attempt.
 */

/**
 * The delay before the next attempt: exponential backoff with full jitter (a uniformly
 * random delay between zero and `min(maxMs, initialMs * 2^failures)`), never below the
 * server's floor (`retry:` field or `Retry-After`).
 *
 * Full jitter spreads a crowd of clients that lost the same server over the whole window,
 * instead of having them all come back at the same instant.
 *
 * @param failures - consecutive failed attempts so far (0 after a connection that worked)
 * @param floorMs - the largest of the server's `retry:` and `Retry-After`
 * @param random - a number in [0, 1)
 */
export function backoffDelay(
  failures: number,
  initialMs: number,
  maxMs: number,
  floorMs: number,
  random: number,
): number {
  // 2 ** 31 already exceeds any valid maxMs: clamp the exponent so the product stays finite.
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(failures, 31))
  return Math.max(floorMs, Math.floor(random * ceiling))
}

/**
 * Parses a `Retry-After` header (delta-seconds or an HTTP date) into milliseconds from
 * `now`; 0 when absent or invalid.
 */
export function parseRetryAfter(value: string | null, now: number): number {
  if (!value) return 0
  const seconds = Number(value)
  const ms = Number.isNaN(seconds) ? Date.parse(value) - now : seconds * 1000
  return ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0
}

/** The longest delay a timer holds (2^31 - 1 ms): a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1
