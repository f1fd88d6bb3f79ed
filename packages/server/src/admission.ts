/**
 * Admission: decides, from the request line and headers alone, whether a request becomes a
 * stream, a CORS preflight answer, or a refusal. No I/O here; adapters write the outcome.
 */
import { type HeraldErrorCode, isHeraldError } from '@herald/protocol'
import type { CorsPolicy } from './cors.js'
import { readLastEventId } from './last-event-id.js'
import { acceptsEventStream, pickEncoding } from './negotiate.js'

/** What admission needs to know about a request, whatever the transport. */
export interface RequestView {
  readonly method: string
  /** A request header by lower-case name. */
  header(name: string): string | string[] | undefined
  /** Query string including `?`, or `''`. */
  readonly search: string
  readonly ip: string
}

/** A refusal, to be written as JSON. */
export interface Refusal {
  readonly kind: 'refuse'
  readonly status: number
  readonly code: HeraldErrorCode
  readonly headers: Record<string, string>
  readonly body: string
}

/** A CORS preflight answer (204, or 200 for HEAD-less clients that want a body: never). */
export interface Preflight {
  readonly kind: 'preflight'
  readonly headers: Record<string, string>
}

/** An accepted stream; the caller must `open` it or `cancel` the reservation. */
export interface Acceptance {
  readonly kind: 'accept'
  /** Response headers (no `Connection`: the HTTP/1.1 adapter adds it). */
  readonly headers: Record<string, string>
  readonly lastEventId: string | undefined
  readonly encoding: 'br' | 'gzip' | undefined
  /** `HEAD`: answer the headers and end; no session, no reservation. */
  readonly head: boolean
}

/** Admission's verdict. */
export type Decision = Refusal | Preflight | Acceptance

/** Limits and policies admission applies. */
export interface AdmissionPolicy {
  readonly cors: CorsPolicy | undefined
  readonly encodings: readonly ('br' | 'gzip')[] | undefined
  readonly retryAfterSeconds: number
  readonly draining: boolean
  /** Tries to reserve a connection slot for `ip`; returns the refusal code when full. */
  reserve(ip: string): HeraldErrorCode | undefined
}

/** Headers every accepted stream carries. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-store, no-transform',
  'x-accel-buffering': 'no',
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function refuse(
  code: HeraldErrorCode,
  status: number,
  message: string,
  headers: Record<string, string>,
): Refusal {
  const all: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  }
  return {
    kind: 'refuse',
    status,
    code,
    headers: all,
    body: JSON.stringify({ error: { code, message } }),
  }
}

/** Decides what to do with a request. Reserves a connection slot when it accepts. */
export function admit(
  request: RequestView,
  policy: AdmissionPolicy,
  extraHeaders: Readonly<Record<string, string>> | undefined,
): Decision {
  const cors = policy.cors
  const origin = first(request.header('origin'))
  let corsHeaders: Record<string, string> = {}
  if (cors !== undefined && origin !== undefined) {
    const allowed = cors.allowOrigin(origin)
    if (allowed === undefined) {
      return refuse('HERALD_ORIGIN_NOT_ALLOWED', 403, `origin ${origin} is not allowed`, {})
    }
    if (
      request.method === 'OPTIONS' &&
      request.header('access-control-request-method') !== undefined
    ) {
      return { kind: 'preflight', headers: cors.preflightHeaders(allowed) }
    }
    corsHeaders = cors.responseHeaders(allowed)
  }
  const method = request.method
  if (method === 'OPTIONS') {
    return { kind: 'preflight', headers: { allow: 'GET, HEAD, OPTIONS', ...corsHeaders } }
  }
  if (method !== 'GET' && method !== 'HEAD') {
    return refuse('HERALD_METHOD_NOT_ALLOWED', 405, `method ${method} is not allowed`, {
      allow: 'GET, HEAD, OPTIONS',
      ...corsHeaders,
    })
  }
  const retryAfter = { 'retry-after': String(policy.retryAfterSeconds), ...corsHeaders }
  if (policy.draining) {
    return refuse('HERALD_DRAINING', 503, 'the server is draining', retryAfter)
  }
  if (!acceptsEventStream(first(request.header('accept')))) {
    return refuse(
      'HERALD_NOT_ACCEPTABLE',
      406,
      'this endpoint only serves text/event-stream',
      corsHeaders,
    )
  }
  let lastEventId: string | undefined
  try {
    lastEventId = readLastEventId(request.header('last-event-id'), request.search)
  } catch (error) {
    if (!isHeraldError(error)) throw error
    return refuse(error.code, error.status ?? 400, error.message, corsHeaders)
  }
  const encoding =
    policy.encodings === undefined
      ? undefined
      : pickEncoding(first(request.header('accept-encoding')), policy.encodings)
  const headers: Record<string, string> = { ...STREAM_HEADERS, ...corsHeaders }
  if (extraHeaders !== undefined) Object.assign(headers, extraHeaders)
  if (encoding !== undefined) {
    headers['content-encoding'] = encoding
    headers.vary =
      headers.vary === undefined ? 'Accept-Encoding' : `${headers.vary}, Accept-Encoding`
  }
  if (method === 'HEAD') return { kind: 'accept', headers, lastEventId, encoding, head: true }
  const full = policy.reserve(request.ip)
  if (full !== undefined) {
    return full === 'HERALD_TOO_MANY_CONNECTIONS_PER_IP'
      ? refuse(full, 429, 'too many open streams from this address', retryAfter)
      : refuse(full, 503, 'too many open streams', retryAfter)
  }
  return { kind: 'accept', headers, lastEventId, encoding, head: false }
}
