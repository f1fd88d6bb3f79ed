/**
 * Topics and topic patterns.
 *
 * A topic is a non-empty string of at most {@link MAX_TOPIC_LENGTH} characters without
 * whitespace or control characters, read as `/`-separated segments (`orders/42`,
 * `https://example.com/books/1`: URL topics work unchanged, so Mercure publishers do too).
 * A pattern is a topic in which a whole segment may be a wildcard:
 *
 * - `*` matches exactly one segment: `orders/*` matches `orders/42`, not `orders/42/lines`.
 * - `**` matches one or more segments and may only be the last segment: `orders/**`
 *   matches `orders/42` and `orders/42/lines`, not `orders` itself; `**` alone matches
 *   every topic.
 *
 * `*` is not allowed inside a literal segment (`ord*` is invalid), so a topic can never be
 * mistaken for a pattern.
 */
import { HeraldError } from '@herald/protocol'

/** Longest accepted topic or pattern, in UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 1024

// Whitespace and control characters would make topics ambiguous in logs, URLs and forms.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const FORBIDDEN = /[\u0000-\u0020\u007f\u0085\u00a0\u2028\u2029]/

function invalid(message: string): HeraldError {
  return new HeraldError('HERALD_INVALID_TOPIC', message, { status: 400 })
}

function checkCommon(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string`)
  if (value.length === 0) throw invalid(`${what} must not be empty`)
  if (value.length > MAX_TOPIC_LENGTH) {
    throw invalid(`${what} is longer than ${MAX_TOPIC_LENGTH} characters`)
  }
  if (FORBIDDEN.test(value)) {
    throw invalid(`${what} ${JSON.stringify(value)} contains whitespace or a control character`)
  }
}

/**
 * Throws `HERALD_INVALID_TOPIC` (400) unless `topic` is a valid concrete topic (no
 * wildcard). Publishing takes topics; subscribing takes patterns.
 */
export function assertValidTopic(topic: unknown): asserts topic is string {
  checkCommon(topic, 'topic')
  if (topic.includes('*')) {
    throw invalid(`topic ${JSON.stringify(topic)} contains '*': wildcards are for subscriptions`)
  }
}

/** Throws `HERALD_INVALID_TOPIC` (400) unless `pattern` is a valid topic pattern. */
export function assertValidTopicPattern(pattern: unknown): asserts pattern is string {
  checkCommon(pattern, 'topic pattern')
  const segments = pattern.split('/')
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string
    if (!segment.includes('*') || segment === '*') continue
    if (segment === '**' && i === segments.length - 1) continue
    throw invalid(
      segment === '**'
        ? `topic pattern ${JSON.stringify(pattern)}: '**' is only allowed as the last segment`
        : `topic pattern ${JSON.stringify(pattern)}: a wildcard must be a whole segment ('*' or '**')`,
    )
  }
}

/** `true` when `pattern` contains a wildcard segment. */
export function isTopicPattern(pattern: string): boolean {
  return pattern.includes('*')
}

/** A compiled set of patterns: tests topics against all of them at once. */
export interface TopicMatcher {
  /** The patterns, as given. */
  readonly patterns: readonly string[]
  /** `true` when `topic` matches at least one pattern. */
  matches(topic: string): boolean
}

function matchSegments(pattern: readonly string[], topic: readonly string[]): boolean {
  const last = pattern.length - 1
  for (let i = 0; i <= last; i++) {
    const p = pattern[i] as string
    if (p === '**') return topic.length > i
    if (i >= topic.length) return false
    if (p !== '*' && p !== topic[i]) return false
  }
  return topic.length === pattern.length
}

/** `true` when `topic` matches `pattern` (see the module documentation for the syntax). */
export function topicMatches(pattern: string, topic: string): boolean {
  if (!isTopicPattern(pattern)) return pattern === topic
  return matchSegments(pattern.split('/'), topic.split('/'))
}

/**
 * Compiles patterns (validated) into a {@link TopicMatcher}. Exact topics are looked up in a
 * set; only wildcard patterns are matched segment by segment.
 *
 * @throws {HeraldError} `HERALD_INVALID_TOPIC` for an invalid pattern.
 */
export function createTopicMatcher(patterns: readonly string[]): TopicMatcher {
  const exact = new Set<string>()
  const wild: string[][] = []
  for (const pattern of patterns) {
    assertValidTopicPattern(pattern)
    if (isTopicPattern(pattern)) wild.push(pattern.split('/'))
    else exact.add(pattern)
  }
  // `**` alone matches every topic (a topic has at least one segment): the node tail reads
  // with it, and then no topic is split into segments per event.
  const every = wild.some((p) => p.length === 1 && p[0] === '**')
  return {
    patterns: [...patterns],
    matches(topic) {
      if (every || exact.has(topic)) return true
      if (wild.length === 0) return false
      const segments = topic.split('/')
      for (const pattern of wild) if (matchSegments(pattern, segments)) return true
      return false
    },
  }
}

/**
 * `true` when every topic matched by `requested` is also matched by `granted`: a claim
 * `orders/**` covers a subscription to `orders/*`, but `orders/*` does not cover `orders/**`.
 */
export function patternCovers(granted: string, requested: string): boolean {
  const g = granted.split('/')
  const r = requested.split('/')
  for (let i = 0; i < g.length; i++) {
    const gs = g[i] as string
    if (gs === '**') return r.length > i
    const rs = r[i]
    if (rs === undefined) return false
    if (rs === '**') return false
    if (gs !== '*' && (rs === '*' || gs !== rs)) return false
  }
  return g.length === r.length
}
