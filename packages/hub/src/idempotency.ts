/**
 * Idempotent publishing: a publisher that retries a request with the same `Idempotency-Key`
 * (after a timeout, say) gets the first answer back instead of publishing twice. Keys live in
 * memory on one node, for a bounded time and number.
 */
import { createHash } from 'node:crypto'
import { HeraldError } from '@herald/protocol'

/** Options of {@link createIdempotencyCache}. */
export interface IdempotencyOptions {
  /** How long a key is remembered, in milliseconds. Default 10 minutes. */
  ttlMs?: number | undefined
  /** Most keys remembered; the oldest are forgotten first. Default 10 000. */
  maxKeys?: number | undefined
}

interface Entry<T> {
  expires: number
  digest: string
  answer: Promise<T>
}

/** Remembers the answers of keyed requests. */
export interface IdempotencyCache<T> {
  /**
   * Runs `fn` for the first request with `key` and remembers its answer; later requests with
   * the key and the same body get that answer (`replayed: true`), even while it is pending.
   * A failure is not remembered: the next try runs again.
   *
   * @throws {HeraldError} `HERALD_IDEMPOTENCY_KEY_REUSED` (422) when the key comes back with
   * another body.
   */
  run(key: string, body: string, fn: () => Promise<T>): Promise<{ answer: T; replayed: boolean }>
}

/** Creates an {@link IdempotencyCache}. */
export function createIdempotencyCache<T>(
  options: IdempotencyOptions = {},
  now: () => number = Date.now,
): IdempotencyCache<T> {
  const ttlMs = options.ttlMs ?? 10 * 60_000
  const maxKeys = options.maxKeys ?? 10_000
  const entries = new Map<string, Entry<T>>()

  function evict(t: number): void {
    // Insertion order is age order: expired entries are at the front.
    for (const [key, entry] of entries) {
      if (entry.expires > t && entries.size < maxKeys) break
      entries.delete(key)
    }
  }

  return {
    async run(key, body, fn) {
      const t = now()
      const digest = createHash('sha256').update(body).digest('base64')
      const existing = entries.get(key)
      if (existing !== undefined && existing.expires > t) {
        if (existing.digest !== digest) {
          throw new HeraldError(
            'HERALD_IDEMPOTENCY_KEY_REUSED',
            'this Idempotency-Key was used for a different request body',
            { status: 422 },
          )
        }
        return { answer: await existing.answer, replayed: true }
      }
      if (existing !== undefined) entries.delete(key)
      evict(t)
      const answer = fn()
      const entry: Entry<T> = { expires: t + ttlMs, digest, answer }
      entries.set(key, entry)
      try {
        return { answer: await answer, replayed: false }
      } catch (error) {
        if (entries.get(key) === entry) entries.delete(key)
        throw error
      }
    },
  }
}
