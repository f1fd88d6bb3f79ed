/**
 * Reads the client's resume cursor: the `Last-Event-ID` header, else the `lastEventId` query
 * parameter (for clients that cannot set headers), validated.
 */
import { HeraldError } from '@herald/protocol'

/** Longest accepted cursor, in UTF-16 code units. Real IDs are short; this bounds abuse. */
export const MAX_LAST_EVENT_ID_LENGTH = 1024

/**
 * Returns the validated cursor, or `undefined` when absent or empty (an empty ID means "none"
 * to EventSource).
 *
 * @throws {HeraldError} `HERALD_INVALID_LAST_EVENT_ID` (400) for a value with CR, LF or NUL, or
 * longer than {@link MAX_LAST_EVENT_ID_LENGTH}.
 */
export function readLastEventId(
  header: string | string[] | null | undefined,
  search: string,
): string | undefined {
  let value: string | null | undefined = Array.isArray(header) ? header[0] : header
  if (typeof value === 'string' && value !== '') value = fromByteString(value)
  if (value === undefined || value === null || value === '') {
    // Parsing the query string only when there is one keeps the common path free of URL work.
    value = search.length > 1 ? new URLSearchParams(search).get('lastEventId') : null
  }
  if (value === undefined || value === null || value === '') return undefined
  if (value.length > MAX_LAST_EVENT_ID_LENGTH) {
    throw new HeraldError(
      'HERALD_INVALID_LAST_EVENT_ID',
      `Last-Event-ID is longer than ${MAX_LAST_EVENT_ID_LENGTH} characters`,
      { status: 400 },
    )
  }
  if (/[\r\n\0]/.test(value)) {
    throw new HeraldError(
      'HERALD_INVALID_LAST_EVENT_ID',
      'Last-Event-ID must not contain CR, LF or NUL',
      { status: 400 },
    )
  }
  return value
}

const NON_ASCII = /[\x80-\xff]/
const utf8 = new TextDecoder()

/**
 * Header values arrive as byte strings (one character per byte, as node:http and Fetch give
 * them), while EventSource sends the ID as UTF-8: decode, so `café` comes back as `café`.
 */
function fromByteString(value: string): string {
  if (!NON_ASCII.test(value)) return value
  const bytes = new Uint8Array(value.length)
  for (let i = 0; i < value.length; i++) bytes[i] = value.charCodeAt(i)
  return utf8.decode(bytes)
}
