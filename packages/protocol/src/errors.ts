/**
 * Every error code Herald can raise, in one catalogue. A code is never reused or
 * renamed once published; `docs/errors.md` documents each one and a test keeps the two
 * in step.
 */
export const heraldErrorCodes = [
  // @herald/protocol
  'HERALD_INVALID_EVENT_TYPE',
  'HERALD_INVALID_EVENT_ID',
  'HERALD_INVALID_RETRY',
  'HERALD_INVALID_DATA',
  'HERALD_EVENT_TOO_LARGE',
  // @herald/hub (and its stores)
  'HERALD_INVALID_TOPIC',
  'HERALD_PAYLOAD_TOO_LARGE',
  'HERALD_INVALID_UTF8',
  'HERALD_INVALID_JSON',
  'HERALD_INVALID_PUBLISH',
  'HERALD_UNSUPPORTED_MEDIA_TYPE',
  'HERALD_UNAUTHORIZED',
  'HERALD_FORBIDDEN',
  'HERALD_PUBLISH_RATE_LIMITED',
  'HERALD_NOT_FOUND',
  'HERALD_METHOD_NOT_ALLOWED',
  'HERALD_STORE_CLOSED',
  'HERALD_STORE_UNAVAILABLE',
  'HERALD_INTERNAL',
  'HERALD_STORE_SCHEMA_MISMATCH',
  'HERALD_INVALID_CONFIG',
  'HERALD_UNSUPPORTED_STORE',
  'HERALD_PUBLISH_SCHEMA',
  'HERALD_IDEMPOTENCY_KEY_REUSED',
  'HERALD_DUPLICATE_EVENT_ID',
  'HERALD_REQUEST_TIMEOUT',
  'HERALD_BODY_ALREADY_READ',
  'HERALD_INVALID_REQUEST',
  'HERALD_REQUEST_ABORTED',
  'HERALD_RESERVED_EVENT_TYPE',
  'HERALD_REPLAY_RATE_LIMITED',
  'HERALD_SCHEMA_CONFLICT',
  'HERALD_SCHEMA_INVALID',
  'HERALD_SCHEMA_INCOMPATIBLE',
  'HERALD_SCHEMA_VIOLATION',
  'HERALD_DELIVERY_LAGGING',
  // @herald/client
  'HERALD_CLIENT_HTTP_STATUS',
  'HERALD_CLIENT_CONTENT_TYPE',
  'HERALD_CLIENT_NETWORK',
  'HERALD_CLIENT_STALLED',
  'HERALD_CLIENT_ENDED',
  'HERALD_CLIENT_HEADERS',
  'HERALD_CLIENT_MAX_ATTEMPTS',
  'HERALD_CLIENT_INVALID_JSON',
  'HERALD_CLIENT_SCHEMA',
  'HERALD_CLIENT_RESET',
  'HERALD_CLIENT_BLOB_INTEGRITY',
  // @herald/server
  'HERALD_NOT_ACCEPTABLE',
  'HERALD_INVALID_LAST_EVENT_ID',
  'HERALD_ORIGIN_NOT_ALLOWED',
  'HERALD_TOO_MANY_CONNECTIONS',
  'HERALD_TOO_MANY_CONNECTIONS_PER_IP',
  'HERALD_DRAINING',
  'HERALD_SLOW_CONSUMER',
  'HERALD_PIPELINED_REQUEST',
  // blobs (@herald/store, @herald/hub)
  'HERALD_BLOB_STORE_FULL',
  'HERALD_BLOB_NOT_FOUND',
  'HERALD_RANGE_NOT_SATISFIABLE',
] as const

/** A stable, documented Herald error code. */
export type HeraldErrorCode = (typeof heraldErrorCodes)[number]

/** Options for {@link HeraldError}. */
export interface HeraldErrorOptions {
  /** HTTP status code to answer with, where the error maps to one. */
  status?: number
  /** The underlying error, if any. */
  cause?: unknown
}

/**
 * Base class of every error Herald throws or reports. `code` is stable and documented
 * in `docs/errors.md`; branch on it, never on `message`.
 */
export class HeraldError extends Error {
  /** Stable machine-readable code, for example `HERALD_INVALID_EVENT_ID`. */
  readonly code: HeraldErrorCode
  /** HTTP status that best describes the error, when it maps to one. */
  readonly status: number | undefined

  constructor(code: HeraldErrorCode, message: string, options: HeraldErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HeraldError'
    this.code = code
    this.status = options.status
  }
}

/** Type guard: `true` when `value` is a {@link HeraldError}, optionally with the given code. */
export function isHeraldError(value: unknown, code?: HeraldErrorCode): value is HeraldError {
  return value instanceof HeraldError && (code === undefined || value.code === code)
}
