/**
 * The hub's HTTP plumbing, transport by transport: Node (`node:http`, `node:http2` compat)
 * and Fetch requests read into one shape, answers written back, JSON errors, CORS origin
 * matching, body decoding.
 */
import type { HeraldErrorCode } from '@herald/protocol'
import { HeraldError } from '@herald/protocol'
import type {
  CorsOptions,
  CorsPolicy,
  NodeRequest,
  NodeResponse,
  StreamRequest,
} from '@herald/server'
import { createCorsPolicy } from '@herald/server'

const JSON_TYPE = 'application/json; charset=utf-8'

/** A request, whichever transport it came from. */
export interface HubRequest {
  /** HTTP method. */
  method: string
  /** Absolute request URL. */
  readonly url: URL
  /** `url.pathname`, below the mount point when an app mounted the hub at a prefix. */
  readonly path: string
  /**
   * The prefix an app mounted the hub at (Express's `req.baseUrl`, e.g. `/hub`), or `''`.
   * Paths the hub shows (the `GET /` endpoint list) carry it.
   */
  readonly base?: string
  /** Client IP (`''` when unknown). */
  ip: string
  /** A request header by lower-case name. */
  header(name: string): string | undefined
  /**
   * Reads the whole body; rejects with 413 past `limit` bytes, with 408 when it has not
   * arrived within `timeoutMs` (0: no deadline).
   */
  body(limit: number, timeoutMs?: number): Promise<Uint8Array>
  /**
   * Optional: the whole body when it has already arrived and is within `limit` bytes, else
   * `undefined` (read it with {@link body}). Lets a transport that reads the body before the
   * request reaches the route (the lean publish path) hand it over without a promise.
   */
  bodyNow?(limit: number): Uint8Array | undefined
}

/** A non-stream answer. */
export interface HubResponse {
  /** HTTP status. */
  status: number
  /** Response headers. */
  headers: Record<string, string>
  /** Body: text, or bytes (blobs). */
  body: string | Uint8Array
}

/** A JSON answer. */
export function json(
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): HubResponse {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(value) }
}

/**
 * The JSON error answer `{ error: { code, message } }`. 401s get a `WWW-Authenticate: Bearer`
 * challenge, with RFC 6750's `error="invalid_token"` when a presented token failed (none when
 * no token was presented); a 403 for a token without the grant gets `insufficient_scope`.
 */
export function errorResponse(
  error: HeraldError,
  headers: Record<string, string> = {},
): HubResponse {
  const status = error.status ?? 500
  const extra: Record<string, string> = { ...headers }
  const bearer = (error as { bearerError?: unknown }).bearerError
  if (status === 401) {
    extra['www-authenticate'] =
      bearer === 'invalid_token'
        ? 'Bearer realm="herald", error="invalid_token"'
        : 'Bearer realm="herald"'
  } else if (status === 403 && error.code === 'HERALD_FORBIDDEN') {
    extra['www-authenticate'] = 'Bearer realm="herald", error="insufficient_scope"'
  }
  // Structured details a caller can act on (the failing JSON pointer, the breaking changes).
  const details = (error as { details?: unknown }).details
  const body =
    details === undefined
      ? { error: { code: error.code, message: error.message } }
      : { error: { code: error.code, message: error.message, details } }
  return json(status, body, extra)
}

/** A `HeraldError` with an HTTP status. */
export function fail(code: HeraldErrorCode, status: number, message: string): HeraldError {
  return new HeraldError(code, message, { status })
}

// The stream server's own policy, compiled once per options object: streams, publishes and
// their preflights allow exactly the same origins.
const policies = new WeakMap<CorsOptions, CorsPolicy>()

/**
 * `true` when `origin` is in the CORS list (exact, `*`, or `https://*.example.com`), as
 * `@herald/server`'s CORS policy decides it for streams.
 */
export function originAllowed(cors: CorsOptions, origin: string): boolean {
  let policy = policies.get(cors)
  if (policy === undefined) {
    policy = createCorsPolicy(cors)
    policies.set(cors, policy)
  }
  return policy.allowOrigin(origin) !== undefined
}

/**
 * Mercure clients resume with `?lastEventID=` (capital ID); the stream server reads
 * `lastEventId`. Returns the URL to hand over when it needs the alias, else `undefined`.
 */
export function mercureCursorUrl(url: URL): URL | undefined {
  const alias = url.searchParams.get('lastEventID')
  if (alias === null || url.searchParams.has('lastEventId')) return undefined
  const out = new URL(url)
  out.searchParams.set('lastEventId', alias)
  return out
}

/**
 * The rightmost entry of a comma-separated `X-Forwarded-For` / `X-Forwarded-Proto` value (the
 * one the trusted proxy appended; the entries left of it come from the client, who can write
 * anything there), or `undefined` when there is none. Every transport reads them this way.
 */
export function lastForwarded(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const last = value.slice(value.lastIndexOf(',') + 1).trim()
  return last === '' ? undefined : last
}

/**
 * The hub's view of a request parsed by the lean connection path (no body: stream requests
 * have none). The client IP and scheme follow `trustProxy` as in {@link fromNode}.
 */
export function fromStreamRequest(request: StreamRequest, trustProxy: boolean): HubRequest {
  const headers = request.headers
  const header = (name: string): string | undefined => {
    const value = headers[name]
    return Array.isArray(value) ? value.join(', ') : value
  }
  let ip = request.ip
  let url = request.url
  if (trustProxy) {
    ip = lastForwarded(header('x-forwarded-for')) ?? ip
    const proto = lastForwarded(header('x-forwarded-proto'))
    if (proto === 'https') {
      url = new URL(url)
      url.protocol = 'https:'
    }
  }
  return {
    method: request.method,
    url,
    path: url.pathname,
    ip,
    header,
    body: () => Promise.reject(fail('HERALD_INVALID_REQUEST', 400, 'a stream request has no body')),
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/** Decodes a body as strict UTF-8. @throws {HeraldError} `HERALD_INVALID_UTF8` (400). */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes)
  } catch (error) {
    throw new HeraldError('HERALD_INVALID_UTF8', 'the request body is not valid UTF-8', {
      status: 400,
      cause: error,
    })
  }
}

/**
 * The bytes of a body a middleware already read and parsed into `req.body` (Express's
 * `express.json()`, `express.urlencoded()`, `express.text()`, `express.raw()`), or
 * `undefined` when `parsed` is not something the body could be rebuilt from. JSON is
 * re-serialised (equal as JSON, not byte for byte); a form is re-encoded from its fields.
 */
function bodyFromParsed(parsed: unknown, contentType: string | undefined): Uint8Array | undefined {
  if (parsed instanceof Uint8Array) return parsed
  if (typeof parsed === 'string') return Buffer.from(parsed, 'utf8')
  if (parsed === null || typeof parsed !== 'object') return undefined
  const type = (contentType ?? '').toLowerCase()
  if (type.includes('json')) return Buffer.from(JSON.stringify(parsed), 'utf8')
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams()
    for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (typeof item !== 'string') return undefined
        form.append(name, item)
      }
    }
    return Buffer.from(form.toString(), 'utf8')
  }
  return undefined
}

/** Express's `req.baseUrl` (the prefix the hub is mounted at), or `''`. */
function mountBase(req: NodeRequest): string {
  const base = (req as { baseUrl?: unknown }).baseUrl
  return typeof base === 'string' ? base : ''
}

/** The error of a request whose client went away before its body arrived in full (400). */
export function aborted(): HeraldError {
  return fail(
    'HERALD_REQUEST_ABORTED',
    400,
    'the client went away before the request body arrived in full',
  )
}

/**
 * A request target whose URL pathname is the target itself: segments of letters, digits,
 * `_` and `-` only, no query (`/publish`, `/events`). No percent-escape, dot segment or `//`
 * for the URL parser to rewrite, so the path is known without parsing a URL.
 */
const PLAIN_TARGET = /^(?:\/[\w-]+)+$/
/**
 * Hosts (with scheme) that made a valid base URL. A connection sends the same `Host` on every
 * request: a request with a plain target and a known host builds its URL only if something
 * reads it (a publish never does), which spares a URL parse per request. Bounded: cleared when
 * full.
 */
const validHosts = new Set<string>()
const MAX_VALID_HOSTS = 256

/**
 * Reads a Node request (`node:http` or `node:http2` compat).
 *
 * @throws {HeraldError} `HERALD_INVALID_REQUEST` (400) when the Host header or the request
 *   target does not make a URL.
 */
export function fromNode(req: NodeRequest, trustProxy: boolean): HubRequest {
  const authority = req.headers[':authority']
  const host = req.headers.host ?? (typeof authority === 'string' ? authority : 'localhost')
  let ip = req.socket.remoteAddress ?? ''
  if (trustProxy) {
    // The rightmost entry is the one the trusted proxy appended (the address it saw).
    const forwarded = req.headers['x-forwarded-for']
    ip = lastForwarded(Array.isArray(forwarded) ? forwarded.join(',') : forwarded) ?? ip
  }
  // The scheme matters for same-origin checks (cookie-authenticated publishes).
  let scheme = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http'
  if (trustProxy) {
    const proto = req.headers['x-forwarded-proto']
    const last = lastForwarded(Array.isArray(proto) ? proto.join(',') : proto)
    if (last === 'https' || last === 'http') scheme = last
  }
  const target = req.url ?? '/'
  const origin = `${scheme}://${host}`
  let url: URL | undefined
  let path: string
  if (PLAIN_TARGET.test(target) && validHosts.has(origin)) {
    // Parsed on first use; it cannot fail: the base parsed before and the target is plain.
    path = target
  } else {
    try {
      url = new URL(target, origin)
    } catch (error) {
      // RFC 9112 section 3.2: a request with an invalid Host gets a 400.
      throw new HeraldError(
        'HERALD_INVALID_REQUEST',
        `invalid Host header or request target: ${JSON.stringify(`${host} ${req.url ?? ''}`.slice(0, 200))}`,
        { status: 400, cause: error },
      )
    }
    path = url.pathname
    if (validHosts.size >= MAX_VALID_HOSTS) validHosts.clear()
    validHosts.add(origin)
  }
  return {
    method: req.method ?? 'GET',
    get url() {
      url ??= new URL(target, origin)
      return url
    },
    path,
    base: mountBase(req),
    ip,
    header(name) {
      const value = req.headers[name]
      return Array.isArray(value) ? value.join(', ') : value
    },
    body: (limit, timeoutMs = 0) =>
      new Promise<Uint8Array>((resolve, reject) => {
        // Mounted in an app behind a body parser (express.json()): the stream was read to its
        // end before the hub got the request, so no 'data' or 'end' will ever come. Use what
        // the parser left in req.body, or say what happened at once (not a 408 after the
        // body deadline).
        if ((req as { readableEnded?: boolean }).readableEnded === true) {
          const bytes =
            bodyFromParsed((req as { body?: unknown }).body, req.headers['content-type']) ??
            (req.headers['content-length'] === '0' ? new Uint8Array(0) : undefined)
          if (bytes === undefined) {
            reject(
              fail(
                'HERALD_BODY_ALREADY_READ',
                500,
                'the request body was read before the hub got the request (a body parser such as express.json() mounted before the hub?) and req.body does not hold it: mount the hub before body parsers',
              ),
            )
          } else if (bytes.length > limit) {
            reject(fail('HERALD_PAYLOAD_TOO_LARGE', 413, `request body larger than ${limit} bytes`))
          } else {
            resolve(bytes)
          }
          return
        }
        // The client may have gone while the handler was busy (authenticating): the request is
        // then destroyed and its 'close' already fired, so waiting for it would never end.
        if (req.destroyed || (req as { readableAborted?: boolean }).readableAborted === true) {
          reject(aborted())
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        // A client trickling its body (slowloris) must not hold the connection forever.
        const timer =
          timeoutMs > 0
            ? setTimeout(() => {
                req.removeAllListeners('data')
                reject(
                  fail(
                    'HERALD_REQUEST_TIMEOUT',
                    408,
                    `the request body did not arrive within ${timeoutMs / 1000} s`,
                  ),
                )
              }, timeoutMs)
            : undefined
        const settle = (): void => {
          if (timer !== undefined) clearTimeout(timer)
        }
        req.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > limit) {
            settle()
            req.removeAllListeners('data')
            req.resume()
            reject(fail('HERALD_PAYLOAD_TOO_LARGE', 413, `request body larger than ${limit} bytes`))
            return
          }
          chunks.push(chunk)
        })
        req.on('end', () => {
          settle()
          resolve(Buffer.concat(chunks))
        })
        req.on('error', (error) => {
          settle()
          reject(error)
        })
        // A client that goes away mid-body never sends 'end': do not wait forever.
        req.on('close', () => {
          settle()
          if (!req.complete) reject(aborted())
        })
      }),
  }
}

/**
 * Writes a non-stream answer to a Node response. With `req`, an answer given before the
 * request body arrived in full (401, 413, 408, ...) closes the connection afterwards: the
 * rest of the body is not worth reading, and a client trickling it must not keep the
 * connection (and its slot) forever.
 */
export function writeNode(
  res: NodeResponse,
  answer: HubResponse,
  method: string,
  req?: NodeRequest,
): void {
  if (res.headersSent) return
  const abandon = req !== undefined && !req.complete && !req.destroyed
  const http2 = req !== undefined && req.httpVersionMajor >= 2
  const headers: Record<string, string | number> = {
    ...answer.headers,
    'content-length': Buffer.byteLength(answer.body),
  }
  // HTTP/2 forbids `Connection`: there the stream alone is closed.
  if (abandon && !http2) headers.connection = 'close'
  res.writeHead(answer.status, headers)
  if (abandon) {
    res.once('finish', () => {
      if ('stream' in req) req.stream.close()
      else req.socket.destroy()
    })
  }
  if (method === 'HEAD') res.end()
  else res.end(answer.body)
}

/**
 * A {@link writeNode} that answers at the end of the event-loop turn, all answers of the turn
 * together: with many publishers on keep-alive connections, one turn reads many requests,
 * and writing their answers back to back (instead of one between each read) costs the kernel
 * less per answer (measured: about 25% less CPU per request on a bare node:http server;
 * docs/benchmarks.md). The answer leaves a few microseconds later, never a turn later.
 */
export function createBatchedNodeWriter(): typeof writeNode {
  let pending: Parameters<typeof writeNode>[] = []
  const flush = (): void => {
    const batch = pending
    pending = []
    for (const args of batch) writeNode(...args)
  }
  return (res, answer, method, req) => {
    if (pending.length === 0) setImmediate(flush)
    pending.push([res, answer, method, req])
  }
}

/** Reads a Fetch request. */
export function fromFetch(request: Request, ip: string): HubRequest {
  const url = new URL(request.url)
  return {
    method: request.method,
    url,
    path: url.pathname,
    ip,
    header: (name) => request.headers.get(name) ?? undefined,
    async body(limit, timeoutMs = 0) {
      if (request.body === null) return new Uint8Array()
      const chunks: Uint8Array[] = []
      let size = 0
      const reader = request.body.getReader()
      let timedOut = false
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              timedOut = true
              reader.cancel().catch(() => {})
            }, timeoutMs)
          : undefined
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (timedOut) {
            throw fail(
              'HERALD_REQUEST_TIMEOUT',
              408,
              `the request body did not arrive within ${timeoutMs / 1000} s`,
            )
          }
          if (done) break
          size += value.length
          if (size > limit) {
            reader.cancel().catch(() => {})
            throw fail('HERALD_PAYLOAD_TOO_LARGE', 413, `request body larger than ${limit} bytes`)
          }
          chunks.push(value)
        }
      } finally {
        if (timer !== undefined) clearTimeout(timer)
      }
      const out = new Uint8Array(size)
      let at = 0
      for (const chunk of chunks) {
        out.set(chunk, at)
        at += chunk.length
      }
      return out
    },
  }
}

/** Turns a non-stream answer into a Fetch `Response`. */
export function toResponse(answer: HubResponse, method: string): Response {
  const { body } = answer
  const payload =
    method === 'HEAD' || answer.status === 204 || answer.status === 304
      ? null
      : typeof body === 'string'
        ? body
        : // A copy on its own ArrayBuffer: what BodyInit accepts.
          new Uint8Array(body)
  return new Response(payload, {
    status: answer.status,
    headers: answer.headers,
  })
}
