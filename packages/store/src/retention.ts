/**
 * Retention: how long the log keeps events, by count and by age, for the whole hub and
 * per topic pattern. Every store applies the same normalised policy.
 */
import { assertValidTopicPattern } from './topic.js'

/** A bound on part of the log. Omitted fields are unbounded for that dimension. */
export interface RetentionRule {
  /** Keep at most this many events (the oldest go first). */
  maxEvents?: number | undefined
  /** Delete events older than this many milliseconds. */
  maxAgeMs?: number | undefined
}

/** A bound on the events whose topic matches `pattern`. */
export interface TopicRetentionRule extends RetentionRule {
  /** Topic pattern (`orders/*`, `chat/**`). */
  pattern: string
}

/**
 * Retention options of a store. The hub-wide bounds default to the store's defaults
 * (always bounded); `Infinity` lifts one explicitly.
 */
export interface RetentionOptions extends RetentionRule {
  /** Tighter bounds for some topics (for example chatty `metrics/**`). */
  topics?: readonly TopicRetentionRule[] | undefined
}

/** A validated retention policy. */
export interface RetentionPolicy {
  readonly maxEvents: number
  readonly maxAgeMs: number
  readonly topics: readonly { pattern: string; maxEvents: number; maxAgeMs: number }[]
}

function checkBound(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (value === Number.POSITIVE_INFINITY) return value
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`retention.${name} must be a positive integer or Infinity`)
  }
  return value
}

/**
 * Validates `options` against the store's `defaults`.
 *
 * @throws {TypeError} for a bound that is not a positive integer or `Infinity`, or an
 * invalid topic pattern.
 */
export function resolveRetention(
  options: RetentionOptions | undefined,
  defaults: { maxEvents: number; maxAgeMs: number },
): RetentionPolicy {
  const topics = (options?.topics ?? []).map((rule, i) => {
    try {
      assertValidTopicPattern(rule.pattern)
    } catch (error) {
      throw new TypeError(`retention.topics[${i}].pattern: ${(error as Error).message}`)
    }
    return {
      pattern: rule.pattern,
      maxEvents: checkBound(rule.maxEvents, `topics[${i}].maxEvents`, Number.POSITIVE_INFINITY),
      maxAgeMs: checkBound(rule.maxAgeMs, `topics[${i}].maxAgeMs`, Number.POSITIVE_INFINITY),
    }
  })
  return {
    maxEvents: checkBound(options?.maxEvents, 'maxEvents', defaults.maxEvents),
    maxAgeMs: checkBound(options?.maxAgeMs, 'maxAgeMs', defaults.maxAgeMs),
    topics,
  }
}
