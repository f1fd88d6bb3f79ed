/**
 * The options `EventSource` and `subscribe` share, and their validation.
 */

/** Reconnection backoff: exponential with full jitter. See {@link ClientOptions.backoff}. */
export interface BackoffOptions {
  /** Upper bound of the first retry's random delay, in milliseconds. Default 1000. */
  initialMs?: number
  /** Cap of the exponential growth, in milliseconds. Default 30000. */
  maxMs?: number
}

/** Request headers, or a function that returns them before every connection attempt. */
export type HeadersOption = HeadersInit | (() => HeadersInit | Promise<HeadersInit>)

/** Options shared by `new EventSource(url, init)` and `subscribe(url, options)`. */
export interface ClientOptions {
  /**
   * Send cookies and HTTP authentication cross-origin (fetch `credentials: 'include'`).
   * Default `false` (`same-origin`).
   */
  withCredentials?: boolean
  /**
   * Request headers: an object, or a function called before every connection attempt (it
   * may be async), so a rotated token is used on reconnect. `Accept` and `Last-Event-ID`
   * are set by the client.
   */
  headers?: HeadersOption
  /** The `fetch` to use. Default `globalThis.fetch`, looked up at each attempt. */
  fetch?: typeof fetch
  /** HTTP method. Default `GET`. */
  method?: string
  /** Request body, for `method`s that take one. */
  body?: BodyInit | null
  /**
   * Re-send a non-idempotent request (`POST`, `PATCH`) after it ends or fails. Default
   * `false`: such a stream runs once, and ends with it.
   */
  retryNonIdempotent?: boolean
  /** `Last-Event-ID` to send on the first attempt, to resume a stream seen earlier. */
  initialLastEventId?: string
  /**
   * Send the last event ID as this query parameter (the Herald hub reads `lastEventId`)
   * instead of the `Last-Event-ID` header. A cross-origin request with that header needs a
   * CORS preflight; with the parameter, a reconnection is a simple request. Default: the header.
   */
  lastEventIdParam?: string
  /**
   * Milliseconds without a single byte after which the connection is presumed dead: it is
   * dropped and reopened. Set it to two or three server heartbeat intervals. Default: off.
   */
  inactivityTimeoutMs?: number
  /** Reconnection backoff. A server `retry:` field is the floor of every delay. */
  backoff?: BackoffOptions
  /**
   * Maximum number of consecutive failed attempts before giving up with
   * `HERALD_CLIENT_MAX_ATTEMPTS`. An attempt succeeds once it receives a byte of the body.
   * Default: unlimited.
   */
  maxAttempts?: number
  /**
   * Browser only: close the connection while the page is hidden (`visibilitychange`) and
   * resume with `Last-Event-ID` when it is shown again. Default `true`. Turn it off for a
   * server that cannot replay missed events.
   */
  pauseWhenHidden?: boolean
  /**
   * Browser only: close the connection on `pagehide` (so the page can enter the
   * back/forward cache) and resume on `pageshow`. Default `true`.
   */
  pauseOnPageHide?: boolean
  /** Browser and workers: when the `online` event fires during a backoff wait, retry now. Default `true`. */
  reconnectWhenOnline?: boolean
}

/** Options after validation, with defaults applied. */
export interface ResolvedOptions extends ClientOptions {
  method: string
  credentials: RequestCredentials
  /** The request is not re-sent (non-idempotent, and not `retryNonIdempotent`). */
  once: boolean
  lastEventId: string
  inactivityTimeoutMs: number
  initialMs: number
  maxMs: number
  maxAttempts: number
  retryServerErrors: boolean
}

/**
 * Throws a `TypeError` naming the option unless `ok`. Messages stay short (the bundle has a
 * size budget) but name the offending option.
 */
export function check(ok: boolean, name: string): void {
  if (!ok) throw new TypeError(`@herald/client: invalid option ${name}`)
}

/** Static headers are checked once, here: a bad value would fail every attempt. */
function isHeadersInit(value: unknown): boolean {
  try {
    new Headers(value as HeadersInit | undefined)
    return true
  } catch {
    return false
  }
}

function isDuration(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value < 2 ** 31
}

/** Validates options at construction, with precise `TypeError`s, and applies defaults. */
export function resolveOptions(
  options: ClientOptions | undefined,
  retryServerErrors: boolean,
): ResolvedOptions {
  const o = options ?? {}
  check(typeof o === 'object', 'options')
  const {
    headers,
    fetch,
    method = 'GET',
    initialLastEventId: lastEventId = '',
    inactivityTimeoutMs = 0,
    maxAttempts = Number.POSITIVE_INFINITY,
  } = o
  const { initialMs = 1000, maxMs = Math.max(30_000, initialMs) } = o.backoff ?? {}
  check(typeof method === 'string', 'method')
  check(typeof lastEventId === 'string' && !/[\0\r\n]/.test(lastEventId), 'initialLastEventId')
  check(typeof headers === 'function' || isHeadersInit(headers), 'headers')
  check(!fetch || typeof fetch === 'function', 'fetch')
  check(isDuration(inactivityTimeoutMs), 'inactivityTimeoutMs')
  check(isDuration(initialMs), 'backoff.initialMs')
  check(isDuration(maxMs) && maxMs >= initialMs, 'backoff.maxMs')
  check(maxAttempts >= 1, 'maxAttempts')
  return {
    ...o,
    method: method.toUpperCase(),
    credentials: o.withCredentials ? 'include' : 'same-origin',
    once: !o.retryNonIdempotent && /^(POST|PATCH|CONNECT)$/i.test(method),
    lastEventId,
    inactivityTimeoutMs,
    initialMs,
    maxMs,
    maxAttempts,
    retryServerErrors,
  }
}
