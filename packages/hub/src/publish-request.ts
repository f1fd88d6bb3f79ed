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

function checkPayload(data: string, limits: PublishLimits, where: string): void {
  // UTF-8 takes 1 to 3 bytes per UTF-16 unit: count only when the bounds cannot decide.
  const tooLarge =
    data.length > limits.maxPayloadBytes ||
    (data.length * 3 > limits.maxPayloadBytes && utf8Length(data) > limits.maxPayloadBytes)
  if (tooLarge) {
    throw new HeraldError(
      'HERALD_PAYLOAD_TOO_LARGE',
      `${where}data is larger than ${limits.maxPayloadBytes} bytes`,
      { status: 413 },
    )
  }
}

function withWhere(where: string, fn: () => void): void {
  try {
    fn()
  } catch (error) {
    if (error instanceof HeraldError && where !== '') {
      throw new HeraldError(error.code, `${where}${error.message}`, {
        ...(error.status === undefined ? {} : { status: error.status }),
        cause: error,
      })
    }
    throw error
  }
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
  for (const key of Object.keys(o)) {
    if (!FIELDS.has(key)) throw invalid(`${where}unknown field ${JSON.stringify(key)}`)
  }
  withWhere(where, () => assertValidTopic(o.topic))
  if (!('data' in o) || o.data === undefined) throw invalid(`${where}missing field "data"`)
  // Strings go out as they are; any other JSON value is serialised once, here.
  const data = typeof o.data === 'string' ? o.data : JSON.stringify(o.data)
  checkPayload(data, limits, where)
  if (o.event !== undefined && o.type !== undefined) {
    throw invalid(`${where}give "event" or its alias "type", not both`)
  }
  const type = o.event ?? o.type
  if (type !== undefined) withWhere(where, () => assertValidEventType(type))
  withWhere(where, () => assertNotReserved(o.topic as string, type as string | undefined))
  if (o.id !== undefined) {
    withWhere(where, () => {
      assertValidEventId(o.id)
      assertValidPublisherId(o.id)
    })
  }
  if (o.retry !== undefined) withWhere(where, () => assertValidRetry(o.retry))
  if (o.private !== undefined && typeof o.private !== 'boolean') {
    throw invalid(`${where}"private" must be a boolean`)
  }
  return {
    topic: o.topic as string,
    data,
    type: type === '' ? undefined : (type as string | undefined),
    clientId: o.id as string | undefined,
    retry: o.retry as number | undefined,
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
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
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
  const form = new URLSearchParams(text)
  const topics = form.getAll('topic')
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
  const type = form.get('type') ?? undefined
  if (type !== undefined) assertValidEventType(type)
  for (const topic of topics) {
    assertValidTopic(topic)
    assertMercureString(topic, 'topic')
    assertNotReserved(topic, type)
  }
  const data = form.get('data') ?? ''
  checkPayload(data, limits, '')
  const id = form.get('id') ?? undefined
  if (id !== undefined) {
    assertValidEventId(id)
    assertValidPublisherId(id)
  }
  const retryText = form.get('retry')
  let retry: number | undefined
  if (retryText !== null) {
    retry = /^\d+$/.test(retryText) ? Number(retryText) : Number.NaN
    assertValidRetry(retry)
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
      private: form.has('private'),
    },
  ]
}
