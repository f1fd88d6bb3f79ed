/**
 * Turns publish request bodies (JSON for `POST /publish`, form data for Mercure's
 * `POST /.well-known/mercure`) into validated events. All-or-nothing: the first invalid
 * event refuses the whole request and nothing is published.
 */
import {
  assertValidEventId,
  assertValidEventType,
  assertValidRetry,
  HeraldError,
} from '@herald/protocol'
import type { AppendInput } from '@herald/store'
import { assertValidTopic } from '@herald/store'
import { assertValidPublisherId } from './mercure/event-id.js'
import { assertNotReserved } from './mercure/reserved.js'
import { assertMercureString } from './mercure/selector.js'

/** Limits applied to a publish request. */
export interface PublishLimits {
  /** Largest `data`, in UTF-8 bytes. */
  maxPayloadBytes: number
  /** Most events in one request. */
  maxBatch: number
}

const FIELDS = new Set(['topic', 'data', 'event', 'type', 'id', 'retry', 'private'])

/** Deepest nesting of arrays and objects a JSON publish body may have (the envelope included). */
export const MAX_JSON_DEPTH = 64
/** Longest event type, in UTF-16 units (it also counts against the payload limit). */
export const MAX_EVENT_TYPE_LENGTH = 256
/**
 * The range a published `retry` is clamped to, in ms: 0 would send every client of the topic
 * straight back after a drop (a reconnect storm); 2^53-1 would tell them never to come back.
 */
export const RETRY_RANGE_MS: readonly [min: number, max: number] = [1000, 600_000]
/** Event types in this namespace are the hub's own (`herald.reset`): publishers may not send them. */
export const RESERVED_TYPE_PREFIX = 'herald.'

/**
 * `true` when `text` nests arrays/objects deeper than `max`. One pass over the characters,
 * skipping strings: `JSON.parse` and `JSON.stringify` recurse, and a body of 100 000 `[` would
 * otherwise end in a `RangeError` (stack overflow) far from the request.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  // Nesting deeper than `max` takes more than `max` opening brackets: most bodies (a single
  // event has one) have far fewer, counted with indexOf (native) instead of a JS loop over
  // every character. Brackets in strings count here too, so this only ever skips the scan.
  if (!openingsExceed(text, max)) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/** `true` when `text` holds more than `max` `{` and `[` in all. */
function openingsExceed(text: string, max: number): boolean {
  let n = 0
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > max) return true
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > max) return true
  return false
}

function invalid(message: string): HeraldError {
  return new HeraldError('HERALD_INVALID_PUBLISH', message, { status: 400 })
}

function utf8Length(text: string): number {
  let bytes = text.length
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // U+0080..U+07FF take 2 bytes, the rest of the BMP 3; a surrogate pair (2 units) takes 4.
    if (c >= 0x80) bytes += c < 0x800 ? 1 : c >= 0xd800 && c <= 0xdbff ? 1 : 2
  }
  return bytes
}

/**
 * Everything of an event that goes out to subscribers counts against the payload limit: its
 * data, and its type and publisher id (each also capped on its own).
 */
function checkPayload(
  data: string,
  type: string | undefined,
  id: string | undefined,
  limits: PublishLimits,
  where: string,
): void {
  const extra = (type?.length ?? 0) + (id?.length ?? 0)
  const units = data.length + extra
  // UTF-8 takes 1 to 3 bytes per UTF-16 unit: count only when the bounds cannot decide.
  const tooLarge =
    units > limits.maxPayloadBytes ||
    (units * 3 > limits.maxPayloadBytes &&
      utf8Length(data) +
        (type === undefined ? 0 : utf8Length(type)) +
        (id === undefined ? 0 : utf8Length(id)) >
        limits.maxPayloadBytes)
  if (tooLarge) {
    throw new HeraldError(
      'HERALD_PAYLOAD_TOO_LARGE',
      `${where}${extra === 0 ? 'data is' : 'data, event type and id are'} larger than ${limits.maxPayloadBytes} bytes`,
      { status: 413 },
    )
  }
}

/** Validates a published event type: safe to send, short, and not one of the hub's own. */
function checkEventType(type: unknown): asserts type is string {
  assertValidEventType(type)
  if (type.length > MAX_EVENT_TYPE_LENGTH) {
    throw new HeraldError(
      'HERALD_INVALID_EVENT_TYPE',
      `event type is longer than ${MAX_EVENT_TYPE_LENGTH} characters`,
      { status: 400 },
    )
  }
  if (type.toLowerCase().startsWith(RESERVED_TYPE_PREFIX)) {
    throw new HeraldError(
      'HERALD_RESERVED_EVENT_TYPE',
      `event types starting with "${RESERVED_TYPE_PREFIX}" are reserved for the hub (${JSON.stringify(type.slice(0, 64))})`,
      { status: 400 },
    )
  }
}

/** A publisher's id: safe to send, and a valid update id (capped in length there). */
function checkClientId(id: unknown): asserts id is string {
  assertValidEventId(id)
  assertValidPublisherId(id)
}

/** A valid `retry`, clamped to {@link RETRY_RANGE_MS}. */
function clampRetry(retry: unknown): number {
  assertValidRetry(retry)
  return Math.min(RETRY_RANGE_MS[1], Math.max(RETRY_RANGE_MS[0], retry))
}

function tooDeep(cause?: unknown): HeraldError {
  return new HeraldError(
    'HERALD_INVALID_JSON',
    `JSON nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
    { status: 400, cause },
  )
}

/** `error` with `where` in front of its message (a `HeraldError`; anything else as is). */
function located(where: string, error: unknown): unknown {
  if (error instanceof HeraldError && where !== '') {
    return new HeraldError(error.code, `${where}${error.message}`, {
      ...(error.status === undefined ? {} : { status: error.status }),
      cause: error,
    })
  }
  return error
}

/**
 * Validates one publish object (the JSON shape of `POST /publish`) into an append input.
 * `where` prefixes error messages (`events[3]: `).
 *
 * @throws {HeraldError} as {@link parseJsonPublish}.
 */
export function toAppendInput(value: unknown, limits: PublishLimits, where: string): AppendInput {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`${where}an event must be a JSON object`)
  }
  const o = value as Record<string, unknown>
  for (const key in o) {
    if (!FIELDS.has(key)) throw invalid(`${where}unknown field ${JSON.stringify(key)}`)
  }
  // Each check in its own try (no closure per check: this runs once per published event).
  try {
    assertValidTopic(o.topic)
  } catch (error) {
    throw located(where, error)
  }
  if (!('data' in o) || o.data === undefined) throw invalid(`${where}missing field "data"`)
  if (o.event !== undefined && o.type !== undefined) {
    throw invalid(`${where}give "event" or its alias "type", not both`)
  }
  const type = o.event ?? o.type
  let retry: number | undefined
  try {
    if (type !== undefined) checkEventType(type)
  } catch (error) {
    throw located(where, error)
  }
  try {
    assertNotReserved(o.topic as string, type as string | undefined)
  } catch (error) {
    throw located(where, error)
  }
  try {
    if (o.id !== undefined) checkClientId(o.id)
  } catch (error) {
    throw located(where, error)
  }
  try {
    if (o.retry !== undefined) retry = clampRetry(o.retry)
  } catch (error) {
    throw located(where, error)
  }
  if (o.private !== undefined && typeof o.private !== 'boolean') {
    throw invalid(`${where}"private" must be a boolean`)
  }
  // Strings go out as they are; any other JSON value is serialised once, here (a value from
  // `hub.publish` may nest deeper than any body could: stringify then overflows the stack).
  let data: string
  try {
    data = typeof o.data === 'string' ? o.data : JSON.stringify(o.data)
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep(error)
    throw invalid(`${where}data cannot be serialised as JSON: ${(error as Error).message}`)
  }
  checkPayload(data, type as string | undefined, o.id as string | undefined, limits, where)
  return {
    topic: o.topic as string,
    data,
    type: type === '' ? undefined : (type as string | undefined),
    clientId: o.id as string | undefined,
    retry,
    private: o.private === true,
  }
}

/**
 * Parses a `POST /publish` body (text already decoded as UTF-8): one event object or an
 * array of them.
 *
 * @throws {HeraldError} `HERALD_INVALID_JSON`, `HERALD_INVALID_PUBLISH`,
 * `HERALD_INVALID_TOPIC`, `HERALD_INVALID_EVENT_TYPE`, `HERALD_INVALID_EVENT_ID`,
 * `HERALD_INVALID_RETRY` (400) or `HERALD_PAYLOAD_TOO_LARGE` (413).
 */
export function parseJsonPublish(
  text: string,
  limits: PublishLimits,
): { events: AppendInput[]; batch: boolean } {
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) throw tooDeep()
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep(error)
    throw new HeraldError(
      'HERALD_INVALID_JSON',
      `request body is not JSON: ${(error as Error).message}`,
      {
        status: 400,
        cause: error,
      },
    )
  }
  if (!Array.isArray(value)) return { events: [toAppendInput(value, limits, '')], batch: false }
  if (value.length === 0) throw invalid('the batch is empty')
  if (value.length > limits.maxBatch) {
    throw new HeraldError(
      'HERALD_PAYLOAD_TOO_LARGE',
      `the batch has ${value.length} events; at most ${limits.maxBatch} per request`,
      { status: 413 },
    )
  }
  return { events: value.map((v, i) => toAppendInput(v, limits, `events[${i}]: `)), batch: true }
}

/**
 * Parses a Mercure form body (`application/x-www-form-urlencoded`) into ONE update: the first
 * `topic` is canonical, the others its alternates (one event, one id, delivered once); `data`,
 * `id` (the update id subscribers see on the Mercure endpoint), `type`, `retry`, and `private`
 * (present with any value, even empty or `false`, means private: the spec forbids reading the
 * value). Unknown fields are ignored, as Mercure requires. Topics in the hub's reserved
 * namespace and the reserved type `mercure` are refused whatever the token.
 *
 * @throws {HeraldError} as {@link parseJsonPublish}.
 */
export function parseFormPublish(text: string, limits: PublishLimits): AppendInput[] {
  const form = decodeForm(text)
  const all = (name: string): string[] => form.filter(([key]) => key === name).map(([, v]) => v)
  const one = (name: string): string | undefined => form.find(([key]) => key === name)?.[1]
  const topics = all('topic')
  if (topics.length === 0) throw invalid('missing field "topic"')
  if (topics.length > limits.maxBatch) {
    throw new HeraldError(
      'HERALD_PAYLOAD_TOO_LARGE',
      `at most ${limits.maxBatch} topics per request`,
      {
        status: 413,
      },
    )
  }
  const type = one('type')
  if (type !== undefined) checkEventType(type)
  for (const topic of topics) {
    assertValidTopic(topic)
    assertMercureString(topic, 'topic')
    assertNotReserved(topic, type)
  }
  const data = one('data') ?? ''
  const id = one('id')
  if (id !== undefined) checkClientId(id)
  checkPayload(data, type, id, limits, '')
  const retryText = one('retry')
  let retry: number | undefined
  if (retryText !== undefined) {
    retry = clampRetry(/^\d+$/.test(retryText) ? Number(retryText) : Number.NaN)
  }
  const canonical = topics[0] as string
  const alternates = [...new Set(topics.slice(1))].filter((t) => t !== canonical)
  return [
    {
      topic: canonical,
      ...(alternates.length === 0 ? {} : { alternates }),
      data,
      type: type === '' ? undefined : type,
      clientId: id,
      retry,
      private: form.some(([key]) => key === 'private'),
    },
  ]
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const HEX = /^[0-9A-Fa-f]{2}$/

/** Strict percent-decoding of one form name or value (`+` is a space). */
function decodeFormPart(part: string): string {
  const plus = part.replace(/\+/g, ' ')
  if (plus.indexOf('%') === -1) return plus
  const bytes: number[] = []
  for (let i = 0; i < plus.length; i++) {
    const c = plus.charCodeAt(i)
    if (c === 0x25) {
      const hex = plus.slice(i + 1, i + 3)
      if (!HEX.test(hex)) {
        throw invalid(`bad percent escape ${JSON.stringify(plus.slice(i, i + 3))} in the form body`)
      }
      bytes.push(Number.parseInt(hex, 16))
      i += 2
    } else if (c < 0x80) bytes.push(c)
    else {
      // Not percent-encoded (the body was valid UTF-8): re-encode it as is.
      const end = c >= 0xd800 && c <= 0xdbff ? i + 2 : i + 1
      for (const byte of new TextEncoder().encode(plus.slice(i, end))) bytes.push(byte)
      i = end - 1
    }
  }
  try {
    return strictUtf8.decode(new Uint8Array(bytes))
  } catch (error) {
    throw new HeraldError(
      'HERALD_INVALID_UTF8',
      'a percent-escaped form field is not valid UTF-8',
      { status: 400, cause: error },
    )
  }
}

/**
 * Decodes `application/x-www-form-urlencoded` strictly. `URLSearchParams` keeps a bad escape
 * (`%zz`) as text and turns escaped bytes that are not UTF-8 into U+FFFD: a publish would then
 * store something other than what was sent. Here both are a 400.
 */
function decodeForm(text: string): [string, string][] {
  const out: [string, string][] = []
  for (const pair of text.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    out.push(
      eq === -1
        ? [decodeFormPart(pair), '']
        : [decodeFormPart(pair.slice(0, eq)), decodeFormPart(pair.slice(eq + 1))],
    )
  }
  return out
}
