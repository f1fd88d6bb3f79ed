/**
 * Mercure topic selectors: what a subscriber names on `/.well-known/mercure`, and what a token's
 * `mercure` claim or `authorization_details` grant. Three kinds, one interface:
 *
 * - `template` (draft-07 `topic=` parameters and `mercure.publish` / `mercure.subscribe`
 *   claims): `*` matches every topic; otherwise the topic equals the selector, or matches it as
 *   an RFC 6570 URI template.
 * - `exact` (current spec `match=` / `match_exact=`, `match_type: "exact"`): byte-for-byte.
 * - `urlpattern` (`match_urlpattern=`, `match_type: "urlpattern"`): a URL Pattern, relative
 *   patterns and topics resolved against the hub's URL (`urlpattern-polyfill`: Node 20 has no
 *   `URLPattern`).
 *
 * `*` is the reserved wildcard whatever the kind. Herald's own `*`/`**` patterns stay on
 * `/events` (see `topic.ts`); this module is the Mercure endpoint's.
 */
import * as v8 from 'node:v8'
import { HeraldError } from '@herald/protocol'
import { URLPattern } from 'urlpattern-polyfill'
import { compileUriTemplate } from './uri-template.js'

/** The selector kinds. `template` is draft-07's (exact or URI template). */
export type SelectorKind = 'template' | 'exact' | 'urlpattern'

/** A compiled selector. */
export interface MercureSelector {
  /** Its kind. */
  readonly kind: SelectorKind
  /** The selector as written. */
  readonly value: string
  /** `true` for the reserved `*`: matches every topic. */
  readonly all: boolean
  /** `true` when `topic` is selected. */
  matches(topic: string): boolean
}

/** Longest accepted selector, topic or publisher id, in UTF-16 code units. */
export const MAX_SELECTOR_LENGTH = 1024
/** Most named groups and wildcards in one URL pattern (each can multiply matching work). */
export const MAX_URLPATTERN_GROUPS = 6

// C0, DEL, C1 and Unicode format characters (Cf): invisible, they make identifiers spoofable.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\p{Cf}]/u

// URI templates compile to regular expressions: past 50 000 backtracks V8 finishes the match on
// its linear-time engine, so a crafted template cannot pin the CPU (the current spec's
// "URL-Pattern Denial of Service" rule). URL patterns get the static bounds of `urlPattern()`.
try {
  v8.setFlagsFromString?.('--enable-experimental-regexp-engine-on-excessive-backtracks')
} catch {
  // Not V8's flags (Bun): its engine has its own backtracking limit.
}

function invalid(message: string): HeraldError {
  return new HeraldError('HERALD_INVALID_TOPIC', message, { status: 400 })
}

/**
 * Throws `HERALD_INVALID_TOPIC` (400) unless `value` is a string of 1 to
 * {@link MAX_SELECTOR_LENGTH} characters without control or format characters: the rule for
 * Mercure topics and selectors alike. `what` names it in the message.
 */
export function assertMercureString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string`)
  if (value.length === 0) throw invalid(`${what} must not be empty`)
  if (value.length > MAX_SELECTOR_LENGTH) {
    throw invalid(`${what} is longer than ${MAX_SELECTOR_LENGTH} characters`)
  }
  if (FORBIDDEN.test(value)) {
    throw invalid(`${what} ${JSON.stringify(value)} contains a control or format character`)
  }
}

const ALL: Omit<MercureSelector, 'kind'> = { value: '*', all: true, matches: () => true }

function urlPattern(value: string, base: string): (topic: string) => boolean {
  let pattern: URLPattern
  try {
    pattern = new URLPattern(value, base)
  } catch (error) {
    throw invalid(
      `match_urlpattern ${JSON.stringify(value)} is not a URL pattern: ${(error as Error).message}`,
    )
  }
  // The polyfill compiles to `u`-flag regular expressions, which V8's linear engine refuses:
  // bound the work statically instead. Custom regular expression groups are refused, and the
  // named groups and wildcards (each a `[^/]+?` or `.*`) are few.
  if ((pattern as URLPattern & { hasRegExpGroups?: boolean }).hasRegExpGroups === true) {
    throw invalid(
      `match_urlpattern ${JSON.stringify(value)}: regular expression groups are not accepted; use :name groups and *`,
    )
  }
  const groups = value.match(/(?<!\\):[\p{ID_Start}$_]|(?<!\\)\*/gu)?.length ?? 0
  if (groups > MAX_URLPATTERN_GROUPS) {
    throw invalid(
      `match_urlpattern ${JSON.stringify(value)}: at most ${MAX_URLPATTERN_GROUPS} named groups and wildcards`,
    )
  }
  return (topic) => {
    try {
      return pattern.test(topic, base)
    } catch {
      // A topic that does not parse as a URL reference against the hub's URL never matches.
      return false
    }
  }
}

/**
 * Compiles a selector. `base` is the hub's URL (`https://hub.example/.well-known/mercure`),
 * against which relative URL patterns and topics resolve.
 *
 * @throws {HeraldError} `HERALD_INVALID_TOPIC` (400) for a malformed selector.
 */
export function createSelector(kind: SelectorKind, value: unknown, base: string): MercureSelector {
  assertMercureString(value, kind === 'template' ? 'topic selector' : `match_${kind}`)
  if (value === '*') return { kind, ...ALL }
  if (kind === 'exact') return { kind, value, all: false, matches: (topic) => topic === value }
  if (kind === 'urlpattern') {
    const test = urlPattern(value, base)
    return { kind, value, all: false, matches: test }
  }
  const template = compileUriTemplate(value)
  return {
    kind,
    value,
    all: false,
    matches:
      template === undefined
        ? (topic) => topic === value
        : (topic) => topic === value || template.test(topic),
  }
}

/** `true` when any selector matches any of `topics`. */
export function anyMatches(
  selectors: readonly MercureSelector[],
  topics: readonly string[],
): boolean {
  for (const selector of selectors) {
    for (const topic of topics) if (selector.matches(topic)) return true
  }
  return false
}
