/**
 * The hub's reserved namespace and event type (Mercure): topics under `/.well-known/mercure`
 * and the SSE type `mercure` belong to what the hub generates itself (subscription events), so
 * no publisher may forge them.
 */
import { HeraldError } from '@herald/protocol'

/** The hub's Mercure path. */
export const MERCURE_PATH = '/.well-known/mercure'
/** The event type only the hub may use. */
export const RESERVED_TYPE = 'mercure'

// The check ignores scheme and authority: any base with the hub's path resolves the same.
const BASE = `http://hub.invalid${MERCURE_PATH}`
const UNRESERVED = /[A-Za-z0-9\-._~]/
// Characters after which the URL parser may rewrite, strip or reinterpret a reference.
const MAY_REWRITE = /[%\\:?#\s\p{Cc}]/u
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/

/**
 * A shortcut for the common topic, decided without parsing: every publish asks, and two URL
 * parses cost more than the rest of its validation. Without escapes, schemes, queries,
 * fragments, backslashes, blanks or dot segments, a reference resolves to itself (`/a/b`) or
 * to itself under `/.well-known/` (`a/b`): it is reserved only if it spells `well-known`
 * (absolute) or starts with the `mercure` segment (relative). Anything else is resolved.
 */
function cannotBeReserved(topic: string): boolean {
  if (topic === '' || MAY_REWRITE.test(topic) || DOT_SEGMENT.test(topic)) return false
  if (topic.startsWith('/')) return !topic.startsWith('//') && !topic.includes('well-known')
  return topic !== 'mercure' && !topic.startsWith('mercure/')
}

/**
 * `true` when `topic`, resolved against the hub's URL, addresses the reserved namespace: its
 * path (dot segments removed, percent-encoded unreserved characters decoded) is the hub path
 * or below it. A topic that does not parse as a URL reference is not reserved.
 */
export function isReservedTopic(topic: string): boolean {
  if (cannotBeReserved(topic)) return false
  let path: string
  try {
    path = new URL(topic, BASE).pathname
  } catch {
    return false
  }
  path = path.replace(/%([0-9A-Fa-f]{2})/g, (encoded, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : encoded
  })
  // Decoding may reveal dot segments (`%2E%2E`): resolve once more (`//` alone, for one,
  // no longer parses: then not reserved, rather than a TypeError out of a publish).
  try {
    path = new URL(path, BASE).pathname
  } catch {
    return false
  }
  return path === MERCURE_PATH || path.startsWith(`${MERCURE_PATH}/`)
}

/**
 * Throws `HERALD_INVALID_TOPIC` (400) for a topic in the reserved namespace, and
 * `HERALD_INVALID_EVENT_TYPE` (400) for the reserved type: whatever the token grants.
 */
export function assertNotReserved(topic: string, type: string | undefined): void {
  if (isReservedTopic(topic)) {
    throw new HeraldError(
      'HERALD_INVALID_TOPIC',
      `topic ${JSON.stringify(topic)} is in the hub's reserved namespace ${MERCURE_PATH}/ (subscription events)`,
      { status: 400 },
    )
  }
  if (type === RESERVED_TYPE) {
    throw new HeraldError(
      'HERALD_INVALID_EVENT_TYPE',
      `event type ${JSON.stringify(RESERVED_TYPE)} is reserved for the hub's own events`,
      { status: 400 },
    )
  }
}
