/**
 * Mercure update ids: the publisher's `id`, or one the hub generates. On the Mercure endpoint
 * it is the SSE `id:` subscribers see and resume from (the store indexes it to its cursor);
 * `/events` keeps Herald's cursors.
 */
import { randomUUID } from 'node:crypto'
import { HeraldError } from '@herald/protocol'

/** The reserved cursor meaning "everything the hub still holds". */
export const EARLIEST = 'earliest'

// C0, DEL, C1 and Unicode format characters: the id travels in the Last-Event-ID header.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\p{Cf}]/u

/** Longest accepted publisher id, in UTF-16 code units. */
export const MAX_EVENT_ID_LENGTH = 1024

/** A new update id: a `urn:uuid:` IRI (RFC 3987, UUID version 4), as Mercure requires. */
export function generateEventId(): string {
  return `urn:uuid:${randomUUID()}`
}

/**
 * Throws `HERALD_INVALID_EVENT_ID` (400) unless `id` may be a publisher's update id: not
 * empty, not starting with `#` (the hub's relative ids), not `earliest`, no control or
 * format character, at most {@link MAX_EVENT_ID_LENGTH} characters.
 */
export function assertValidPublisherId(id: unknown): asserts id is string {
  const bad = (why: string): HeraldError =>
    new HeraldError('HERALD_INVALID_EVENT_ID', `update id ${JSON.stringify(id)} ${why}`, {
      status: 400,
    })
  if (typeof id !== 'string') throw bad('must be a string')
  if (id.length === 0) throw bad('must not be empty')
  if (id.length > MAX_EVENT_ID_LENGTH) throw bad(`is longer than ${MAX_EVENT_ID_LENGTH} characters`)
  if (id.startsWith('#')) throw bad("must not start with '#' (reserved for the hub's own ids)")
  if (id === EARLIEST) throw bad("must not be 'earliest' (the reserved cursor)")
  if (FORBIDDEN.test(id)) throw bad('contains a control or format character')
}
