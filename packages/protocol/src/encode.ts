/**
 * Safe event-stream encoding: what it writes, any conforming parser reads back exactly.
 */
import { HeraldError } from './errors.js'
import type { EventInit } from './types.js'

const textEncoder = new TextEncoder()
const NEWLINE = /\r\n|\r|\n/

function hasLineBreak(value: string): boolean {
  return value.indexOf('\n') !== -1 || value.indexOf('\r') !== -1
}

/**
 * Throws a `HERALD_INVALID_EVENT_TYPE` error unless `event` can be sent as an event type
 * (a string without CR or LF). Useful to validate input before it reaches a stream.
 */
export function assertValidEventType(event: unknown): asserts event is string {
  if (typeof event !== 'string') {
    throw new HeraldError('HERALD_INVALID_EVENT_TYPE', 'event type must be a string', {
      status: 400,
    })
  }
  if (hasLineBreak(event)) {
    throw new HeraldError(
      'HERALD_INVALID_EVENT_TYPE',
      'event type must not contain CR or LF: it would inject fields into the stream',
      { status: 400 },
    )
  }
}

/**
 * Throws a `HERALD_INVALID_EVENT_ID` error unless `id` can be sent as an event ID (a string
 * without CR, LF or NUL: parsers ignore an ID containing NUL).
 */
export function assertValidEventId(id: unknown): asserts id is string {
  if (typeof id !== 'string') {
    throw new HeraldError('HERALD_INVALID_EVENT_ID', 'event id must be a string', {
      status: 400,
    })
  }
  if (hasLineBreak(id) || id.indexOf('\0') !== -1) {
    throw new HeraldError(
      'HERALD_INVALID_EVENT_ID',
      'event id must not contain CR, LF or NUL: it would inject fields or be ignored',
      { status: 400 },
    )
  }
}

/** Throws a `HERALD_INVALID_RETRY` error unless `retry` is a non-negative safe integer. */
export function assertValidRetry(retry: unknown): asserts retry is number {
  if (typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0) {
    throw new HeraldError(
      'HERALD_INVALID_RETRY',
      'retry must be a non-negative integer number of milliseconds',
      { status: 400 },
    )
  }
}

/**
 * Encodes one event as an event-stream frame, ending with the blank line that dispatches it.
 *
 * Data containing CR, LF or CRLF is split into several `data:` lines, which a parser joins
 * back with LF (the format cannot carry CR). Every other value round-trips exactly.
 *
 * @throws {HeraldError} `HERALD_INVALID_EVENT_TYPE` when `event` contains CR or LF,
 * `HERALD_INVALID_EVENT_ID` when `id` contains CR, LF or NUL, `HERALD_INVALID_RETRY` for a
 * retry that is not a non-negative integer, `HERALD_INVALID_DATA` when `data` is not a string.
 */
export function encodeEvent(event: EventInit): string {
  const { data } = event
  if (typeof data !== 'string') {
    throw new HeraldError('HERALD_INVALID_DATA', 'event data must be a string', { status: 400 })
  }
  let frame = ''
  // An empty type means "message" to a parser; writing nothing keeps the frame short.
  if (event.event !== undefined && event.event !== '') {
    assertValidEventType(event.event)
    frame = `event: ${event.event}\n`
  }
  if (event.id !== undefined) {
    assertValidEventId(event.id)
    frame += `id: ${event.id}\n`
  }
  if (event.retry !== undefined) {
    assertValidRetry(event.retry)
    frame += `retry: ${event.retry}\n`
  }
  // Every value is written after ": " so that a value starting with a space keeps it: a
  // parser removes exactly one space.
  if (!hasLineBreak(data)) return `${frame}data: ${data}\n\n`
  const lines = data.split(NEWLINE)
  for (let i = 0; i < lines.length; i++) frame += `data: ${lines[i]}\n`
  return `${frame}\n`
}

/**
 * Encodes an event once, as UTF-8 bytes, to be written to any number of connections.
 * Lone surrogates in strings become U+FFFD, as in any UTF-8 encoding.
 *
 * @throws {HeraldError} as {@link encodeEvent}.
 */
export function encodeEventBytes(event: EventInit): Uint8Array {
  return textEncoder.encode(encodeEvent(event))
}

/**
 * Encodes a comment: `: text` lines that every parser ignores (used as heartbeats). Line
 * breaks in `text` start new comment lines, so a comment cannot inject fields.
 */
export function encodeComment(text = ''): string {
  if (typeof text !== 'string') throw new TypeError('encodeComment: text must be a string')
  if (!hasLineBreak(text)) return text === '' ? ':\n' : `: ${text}\n`
  let out = ''
  for (const line of text.split(NEWLINE)) out += line === '' ? ':\n' : `: ${line}\n`
  return out
}

/**
 * Encodes a lone `retry:` field, telling the client how long to wait before reconnecting.
 * No blank line follows it: a parser applies `retry:` as it reads the line (WHATWG), and a
 * blank line after it makes popular fetch-based clients (`@microsoft/fetch-event-source`,
 * `extended-eventsource`) dispatch an empty message.
 *
 * @throws {HeraldError} `HERALD_INVALID_RETRY` unless `ms` is a non-negative integer.
 */
export function encodeRetry(ms: number): string {
  assertValidRetry(ms)
  return `retry: ${ms}\n`
}

/** UTF-8 bytes of any frame built by this module, for writing to many connections. */
export function toBytes(frame: string): Uint8Array {
  return textEncoder.encode(frame)
}
