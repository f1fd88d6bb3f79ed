/**
 * Topics as NATS subjects. A topic's `/`-separated segments become the subject's
 * `.`-separated tokens, so Herald's wildcards map one to one onto NATS's: `*` (one segment) is
 * `*`, a final `**` (one or more) is `>`. The server's filtering then matches exactly what the
 * hub's does; the store still re-checks every event with the hub's matcher.
 *
 * Token encoding: `A-Z a-z 0-9 _ -` stay; every other byte of the segment's UTF-8 is `~XX`
 * (hex, upper case), `~` included, so `.`, `*`, `>` and spaces can never reach a subject. An
 * empty segment (`https://x`) is `~`. A segment whose encoding passes 64 characters is
 * `~H` + 40 hex digits of its SHA-1 (subjects stay short; the re-check removes the rare
 * collision).
 */
import { createHash } from 'node:crypto'

const PLAIN = /^[A-Za-z0-9_-]+$/
const MAX_TOKEN = 64

/** One topic segment as one subject token. */
export function encodeSegment(segment: string): string {
  if (segment === '') return '~'
  if (PLAIN.test(segment)) {
    return segment.length <= MAX_TOKEN ? segment : hashed(segment)
  }
  let out = ''
  for (const byte of Buffer.from(segment, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9_-]/.test(c) ? c : `~${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out.length <= MAX_TOKEN ? out : hashed(segment)
}

function hashed(segment: string): string {
  return `~H${createHash('sha1').update(segment).digest('hex')}`
}

/** The subject tokens of a topic, or of a pattern (`*` -> `*`, a final `**` -> `>`). */
export function encodeTopic(topic: string): string {
  return topic
    .split('/')
    .map((s) => (s === '*' ? '*' : s === '**' ? '>' : encodeSegment(s)))
    .join('.')
}
