/**
 * Publishes on the lean HTTP/1.1 path: a keep-alive connection that the lean stream path hands
 * on (it is not a stream request) is read here first, and every plain `POST /publish` on it is
 * parsed and answered on the bare socket, without node:http's parser, IncomingMessage and
 * ServerResponse per request. The request goes through the hub's router like any other, so
 * auth, limits, validation and the append are the same code.
 *
 * Only the plainest request is taken: `POST /publish HTTP/1.1`, a `Host`, one
 * `Content-Length` within the body limit, no `Transfer-Encoding`, `Expect`, `Upgrade` or
 * `Connection` header, a well-formed head within the size limit. Anything else (another path
 * or method, chunked bodies, HTTP/1.0, a malformed or oversized head) hands the connection to
 * node:http at that request boundary with the bytes put back, so node:http's own hardening
 * answers it exactly as it would have without this path. A body that does not arrive within
 * the body deadline gets the same 408 as on node:http, and the connection is closed.
 */
import type { Socket } from 'node:net'
import type { Logger } from '@herald/server'
import type { HubRequest, HubResponse } from './http-io.js'
import { aborted, errorResponse, fail, lastForwarded } from './http-io.js'

/** Options of {@link createLeanPublish}. */
export interface LeanPublishOptions {
  /** Answers a request: the hub's router (`undefined`: no route). */
  answer(req: HubRequest): Promise<HubResponse | undefined>
  /** Largest body taken here; a larger `Content-Length` goes to node:http (which answers 413). */
  maxBodyBytes: number
  /** Deadline for a body to arrive in full once its head has, in ms (0: none). */
  bodyTimeoutMs: number
  /** Largest request head, in bytes. Default 16 KiB (node:http's default too). */
  maxHeaderBytes?: number | undefined
  /**
   * Read the client IP from `X-Forwarded-For` and the scheme from `X-Forwarded-Proto` (their
   * rightmost entries), exactly as the node:http path does with the hub's `trustProxy`.
   */
  trustProxy?: boolean | undefined
  logger: Logger
}

/** A connection listener's fallback (`http.Server`): what the lean stream path hands on to. */
export interface Fallback {
  emit(event: 'connection', socket: Socket): boolean
}

/** `(req, res)` 'request' listener the lean stream path puts on its fallback (its guard). */
type RequestListener = (
  req: { socket: Socket },
  res: { once(event: 'finish', listener: () => void): unknown },
) => void

/**
 * Headers node:http keeps once when repeated (it drops the later copies) or joins otherwise
 * than with `, ` (`cookie` with `; `): a request repeating one of them goes to node:http, so
 * the route reads the very value it would read there.
 */
const NOT_JOINED = new Set([
  'age',
  'authorization',
  'content-type',
  'cookie',
  'etag',
  'expires',
  'from',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'set-cookie',
  'user-agent',
])
const CRLF2 = Buffer.from('\r\n\r\n')
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const DIGITS = /^\d{1,15}$/
const REQUEST_LINE_CRLF = 'POST /publish HTTP/1.1\r\n'
const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** A parsed `POST /publish` head. */
export interface PublishHead {
  /** Header values by lower-case name (repeated headers joined with `, `). */
  headers: Record<string, string>
  /** `Content-Length`. */
  length: number
}

/** Control characters other than horizontal tab are never valid in a field value. */
function hasBadValueChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true
  }
  return false
}

/**
 * Parses a request head (latin1, without its final CRLFCRLF) that this path takes, or
 * `undefined` for anything else (node:http then reads it).
 */
export function parsePublishHead(text: string): PublishHead | undefined {
  if (!text.startsWith(REQUEST_LINE_CRLF)) return undefined
  const headers: Record<string, string> = {}
  let length: number | undefined
  // One pass over the lines, without splitting the head into an array first.
  let at = REQUEST_LINE_CRLF.length
  while (at <= text.length) {
    let eol = text.indexOf('\r\n', at)
    if (eol === -1) eol = text.length
    const colon = text.indexOf(':', at)
    if (colon <= at || colon > eol) return undefined
    const name = text.slice(at, colon)
    if (!TOKEN.test(name)) return undefined
    let from = colon + 1
    let to = eol
    while (from < to && (text.charCodeAt(from) === 0x20 || text.charCodeAt(from) === 0x09)) from++
    while (to > from && (text.charCodeAt(to - 1) === 0x20 || text.charCodeAt(to - 1) === 0x09)) to--
    const value = text.slice(from, to)
    at = eol + 2
    if (hasBadValueChar(value)) return undefined
    const lower = name.toLowerCase()
    if (lower === 'transfer-encoding' || lower === 'expect' || lower === 'upgrade') return undefined
    // Keep-alive is HTTP/1.1's default (undici says it anyway); `close` or an upgrade: node:http.
    if (lower === 'connection' && value.toLowerCase() !== 'keep-alive') return undefined
    const previous = headers[lower]
    if (lower === 'content-length') {
      // One length, digits only: a request smuggled behind a second length is node:http's to refuse.
      if (previous !== undefined || !DIGITS.test(value)) return undefined
      length = Number(value)
    }
    if (previous !== undefined) {
      if (lower === 'host' || NOT_JOINED.has(lower)) return undefined
      headers[lower] = `${previous}, ${value}`
    } else headers[lower] = value
  }
  if (length === undefined || headers.host === undefined || headers.host === '') return undefined
  return { headers, length }
}

/** Hosts that made a valid base URL; bounded (cleared when full). */
const validHosts = new Set<string>()

/**
 * `true` when `host` makes a URL (`http://HOST/`): a request with a Host node:http's path
 * refuses (400 `HERALD_INVALID_REQUEST`) is handed to it, so the answer is the same.
 */
function validHost(host: string): boolean {
  if (validHosts.has(host)) return true
  try {
    new URL(`http://${host}/`)
  } catch {
    return false
  }
  if (validHosts.size >= 256) validHosts.clear()
  validHosts.add(host)
  return true
}

let dateText = ''
let dateAt = 0
function httpDate(): string {
  const now = Date.now()
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000)
    dateText = new Date(dateAt).toUTCString()
  }
  return dateText
}

/**
 * The last value checked of each response header name: the route answers the same few headers
 * with the same values over and over (`content-type`), so each is checked once, not per answer.
 * Bounded (cleared when full).
 */
const checkedHeaders = new Map<string, string>()

// The status line and headers of the last answer encoded, by its headers object and status:
// the publish route answers from one shared headers object (routes/publish.ts), so a run of
// publishes encodes its head once.
let lastHeaders: Readonly<Record<string, string>> | undefined
let lastStatus = 0
let lastHead = ''

/** The bytes of an answer: status line, headers, `content-length`, `date`, body. */
export function encodeAnswer(answer: HubResponse): string {
  const { headers, status } = answer
  let head: string
  if (headers === lastHeaders && status === lastStatus) head = lastHead
  else {
    head = encodeHead(status, headers)
    // Only a frozen object is known to say the same next time.
    if (Object.isFrozen(headers)) {
      lastHeaders = headers
      lastStatus = status
      lastHead = head
    }
  }
  return `${head}content-length: ${Buffer.byteLength(answer.body)}\r\ndate: ${httpDate()}\r\n\r\n${answer.body}`
}

function encodeHead(status: number, headers: Readonly<Record<string, string>>): string {
  let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\n`
  for (const name in headers) {
    const value = headers[name] as string
    if (checkedHeaders.get(name) !== value) {
      if (hasBadValueChar(value) || !TOKEN.test(name)) {
        throw new TypeError(`invalid response header ${JSON.stringify(name)}`)
      }
      if (checkedHeaders.size >= 64) checkedHeaders.clear()
      checkedHeaders.set(name, value)
    }
    head += `${name}: ${value}\r\n`
  }
  return head
}

/** A head this path takes, with what the request view derives from it. */
interface TakenHead extends PublishHead {
  /** The client IP (the forwarded one with `trustProxy`). */
  readonly ip: string
  /** `http`, or `https` when a trusted proxy says so. */
  readonly scheme: string
}

/**
 * A body still arriving when its request went to the route: the route gets a request at its
 * head, as on node:http, so an answer that needs no body (401, 413, 415, 429) is given at once.
 */
class PendingBody {
  #value: Uint8Array | undefined
  #error: unknown
  #failed = false
  #resolve: ((bytes: Uint8Array) => void) | undefined
  #reject: ((error: unknown) => void) | undefined

  /** The body, once it is in. */
  wait(): Promise<Uint8Array> {
    if (this.#value !== undefined) return Promise.resolve(this.#value)
    if (this.#failed) return Promise.reject(this.#error)
    return new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  arrived(bytes: Uint8Array): void {
    this.#value = bytes
    this.#resolve?.(bytes)
    this.#resolve = undefined
    this.#reject = undefined
  }

  fail(error: unknown): void {
    this.#failed = true
    this.#error = error
    this.#reject?.(error)
    this.#resolve = undefined
    this.#reject = undefined
  }
}

/** The request view of one lean publish (a class: no closures per request). */
class LeanRequest implements HubRequest {
  readonly method = 'POST'
  readonly path = '/publish'
  readonly ip: string
  #url: URL | undefined
  readonly #head: TakenHead
  readonly #body: Uint8Array | PendingBody

  constructor(head: TakenHead, body: Uint8Array | PendingBody) {
    this.#head = head
    this.#body = body
    this.ip = head.ip
  }

  get url(): URL {
    this.#url ??= new URL('/publish', `${this.#head.scheme}://${this.#head.headers.host}`)
    return this.#url
  }

  header(name: string): string | undefined {
    return this.#head.headers[name]
  }

  body(limit: number): Promise<Uint8Array> {
    if (this.#head.length > limit) {
      return Promise.reject(
        fail('HERALD_PAYLOAD_TOO_LARGE', 413, `request body larger than ${limit} bytes`),
      )
    }
    const body = this.#body
    return body instanceof PendingBody ? body.wait() : Promise.resolve(body)
  }

  bodyNow(limit: number): Uint8Array | undefined {
    const body = this.#body
    return this.#head.length > limit || body instanceof PendingBody ? undefined : body
  }
}

interface Connection {
  readonly socket: Socket
  readonly ip: string
  /** Bytes read and not yet consumed. */
  buffered: Buffer | undefined
  /**
   * The last head taken on this connection, its bytes and what they parsed to: a publisher
   * on a keep-alive connection sends the same head again and again (the same headers, often
   * the same length), which is then compared, not parsed. Read-only once made.
   */
  lastHead: Buffer | undefined
  lastTaken: TakenHead | undefined
  /** The answer written at the end of the turn. */
  answer: HubResponse | undefined
  /** Settles the request in progress (made once per connection). */
  readonly answered: (answer: HubResponse | undefined) => void
  readonly failed: (error: unknown) => void
  /** What the connection guard's 'request' listener is given (made once per connection). */
  readonly guardRequest: { socket: Socket }
  readonly guardResponse: { once(event: 'finish', listener: () => void): unknown }
  /** The head of the request whose body is awaited. */
  head: TakenHead | undefined
  /** The body of the request in flight, while it is still arriving. */
  pending: PendingBody | undefined
  /** Where its body starts in `buffered`. */
  bodyAt: number
  /** A request is being answered: later requests wait (answers stay in order). */
  busy: boolean
  /** Tells the connection guard the answer is written (its 'finish'). */
  finished: (() => void) | undefined
}

/**
 * Creates the lean publish path. `wrap(fallback)` gives the fallback to hand the lean stream
 * path (`streams.createConnectionHandler`): connections it does not take come here, and go on
 * to `fallback` at the first request this path does not take.
 */
export function createLeanPublish(options: LeanPublishOptions): {
  wrap(fallback: Fallback): Fallback
  /** Stops the body-deadline sweep. */
  close(): void
} {
  const { maxBodyBytes, bodyTimeoutMs, logger } = options
  const trustProxy = options.trustProxy === true
  const maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024
  // Sweeps of the wrapped fallbacks (one per `wrap`), stopped by `close`.
  const closers = new Set<() => void>()

  return {
    wrap(fallback) {
      // Connections waiting for a body, with their deadline: one sweep for all (no timer per request).
      const waiting = new Map<Connection, number>()
      let sweep: ReturnType<typeof setInterval> | undefined
      const byConnection = new WeakMap<Socket, Connection>()

      function startSweep(): void {
        if (sweep !== undefined) return
        sweep = setInterval(
          () => {
            const now = Date.now()
            for (const [conn, deadline] of waiting) {
              if (deadline > now) continue
              waiting.delete(conn)
              timeOut(conn)
            }
            if (waiting.size === 0 && sweep !== undefined) {
              clearInterval(sweep)
              sweep = undefined
            }
          },
          Math.max(10, Math.min(1000, Math.floor(bodyTimeoutMs / 4))),
        )
        sweep.unref?.()
      }

      function timeOut(conn: Connection): void {
        const error = fail(
          'HERALD_REQUEST_TIMEOUT',
          408,
          `the request body did not arrive within ${bodyTimeoutMs / 1000} s`,
        )
        const pending = conn.pending
        if (pending !== undefined) {
          // The route reads the body: it answers the 408 (counted, logged), and the answer,
          // given before the body arrived, closes the connection (write).
          pending.fail(error)
          return
        }
        const { socket } = conn
        detach(conn)
        socket.end(encodeAnswer(errorResponse(error, { connection: 'close' })))
        // A client that does not read its answer must not keep the descriptor either.
        socket.destroySoon()
      }

      closers.add(() => {
        if (sweep !== undefined) clearInterval(sweep)
        sweep = undefined
        waiting.clear()
      })
      let guard: RequestListener | undefined
      const tracked = fallback as Partial<{
        prependListener(event: string, listener: (...args: never[]) => void): unknown
      }>
      const wrapped: Fallback & { prependListener?(event: string, listener: never): unknown } = {
        emit(_event, socket) {
          take(socket)
          return true
        },
      }
      if (typeof tracked.prependListener === 'function') {
        // The lean stream path tracks requests on its fallback (its connection guard: a socket
        // that sent a head no longer waits for one). Requests answered here report the same.
        wrapped.prependListener = (event: string, listener: never) => {
          tracked.prependListener?.(event, listener)
          if (event === 'request') guard = listener as RequestListener
          return wrapped
        }
      }

      function handOff(conn: Connection): void {
        const { socket } = conn
        const bytes = conn.buffered
        detach(conn)
        socket.pause()
        if (bytes !== undefined && bytes.length > 0) socket.unshift(bytes)
        fallback.emit('connection', socket)
        process.nextTick(() => socket.resume())
      }

      function take(socket: Socket): void {
        const conn: Connection = {
          socket,
          // As node:http requests see it (the rate limiter keys on it).
          ip: socket.remoteAddress ?? '',
          buffered: undefined,
          lastHead: undefined,
          lastTaken: undefined,
          answer: undefined,
          answered: (answer) =>
            respond(
              conn,
              answer ?? errorResponse(fail('HERALD_NOT_FOUND', 404, 'no route /publish')),
            ),
          failed: (error) => {
            logger.error({ err: error }, 'request failed')
            respond(
              conn,
              errorResponse(fail('HERALD_INTERNAL', 500, 'internal error'), {
                connection: 'close',
              }),
            )
          },
          guardRequest: { socket },
          guardResponse: {
            once: (_event, finished) => {
              conn.finished = finished
            },
          },
          head: undefined,
          pending: undefined,
          bodyAt: 0,
          busy: false,
          finished: undefined,
        }
        byConnection.set(socket, conn)
        // node:http turns Nagle off on its sockets; a small answer must not wait for an ACK.
        socket.setNoDelay(true)
        socket.on('data', onData)
        socket.on('error', onError)
        socket.on('close', onClose)
      }

      function onData(this: Socket, chunk: Buffer): void {
        const conn = byConnection.get(this)
        if (conn === undefined) return
        conn.buffered =
          conn.buffered === undefined || conn.buffered.length === 0
            ? chunk
            : Buffer.concat([conn.buffered, chunk])
        if (conn.pending !== undefined) {
          bodyArriving(conn)
          return
        }
        if (conn.busy) {
          // Pipelined requests wait for the answer in progress; do not read without bound.
          if (conn.buffered.length > maxHeaderBytes + maxBodyBytes) this.pause()
          return
        }
        pump(conn)
      }

      function pump(conn: Connection): void {
        while (!conn.busy && conn.buffered !== undefined && conn.buffered.length > 0) {
          const bytes = conn.buffered
          let head = conn.head
          if (head === undefined) {
            const end = bytes.indexOf(CRLF2)
            if (end === -1) {
              // node:http answers an oversized head (431); below the limit, wait for more.
              if (bytes.length > maxHeaderBytes) handOff(conn)
              return
            }
            const last = conn.lastHead
            if (
              last !== undefined &&
              last.length === end &&
              bytes.compare(last, 0, end, 0, end) === 0
            ) {
              // The previous head again: taken then, taken now.
              head = conn.lastTaken as TakenHead
            } else {
              const taken = end <= maxHeaderBytes ? takeHead(conn, bytes, end) : undefined
              if (taken === undefined) {
                handOff(conn)
                return
              }
              head = taken
              conn.lastHead = Buffer.from(bytes.subarray(0, end))
              conn.lastTaken = taken
            }
            conn.head = head
            conn.bodyAt = end + 4
            // The head is in: the connection no longer waits for one (the guard's deadline).
            guard?.(conn.guardRequest, conn.guardResponse)
          }
          const end = conn.bodyAt + head.length
          if (bytes.length < end) {
            // The body is still arriving: the route gets the request now, as on node:http
            // (an answer that needs no body is given at once, and closes the connection).
            if (bodyTimeoutMs > 0) {
              waiting.set(conn, Date.now() + bodyTimeoutMs)
              startSweep()
            }
            const pending = new PendingBody()
            conn.pending = pending
            conn.busy = true
            serve(conn, head, pending)
            return
          }
          const body = bytes.subarray(conn.bodyAt, end)
          conn.buffered = bytes.length === end ? undefined : bytes.subarray(end)
          conn.head = undefined
          conn.busy = true
          serve(conn, head, body)
        }
      }

      /** Parses the head of `bytes` (`end` bytes long) on `conn` when this path takes it. */
      function takeHead(conn: Connection, bytes: Buffer, end: number): TakenHead | undefined {
        const parsed = parsePublishHead(bytes.toString('latin1', 0, end))
        if (
          parsed === undefined ||
          parsed.length > maxBodyBytes ||
          !validHost(parsed.headers.host as string)
        ) {
          return undefined
        }
        const { headers } = parsed
        let ip = conn.ip
        let scheme = 'http'
        if (trustProxy) {
          // As fromNode reads them (http-io.ts): the entries the trusted proxy appended.
          ip = lastForwarded(headers['x-forwarded-for']) ?? ip
          if (lastForwarded(headers['x-forwarded-proto']) === 'https') scheme = 'https'
        }
        return { headers, length: parsed.length, ip, scheme }
      }

      /** More of a pending body arrived: hands it to the route once it is whole. */
      function bodyArriving(conn: Connection): void {
        const { head, buffered, pending } = conn
        if (head === undefined || buffered === undefined || pending === undefined) return
        const end = conn.bodyAt + head.length
        if (buffered.length < end) return
        waiting.delete(conn)
        conn.buffered = buffered.length === end ? undefined : buffered.subarray(end)
        conn.head = undefined
        conn.pending = undefined
        // Busy until the answer is written; the bytes after it wait (pipelining).
        pending.arrived(buffered.subarray(conn.bodyAt, end))
      }

      function serve(conn: Connection, head: TakenHead, body: Uint8Array | PendingBody): void {
        options.answer(new LeanRequest(head, body)).then(conn.answered, conn.failed)
      }

      // Answers of one event-loop turn, written together at its end: back-to-back writes after
      // the turn's reads cost the kernel about half as much per answer as one write between
      // each read (measured here, as on the node:http path: createBatchedNodeWriter).
      let batch: Connection[] = []
      function flush(): void {
        const answers = batch
        batch = []
        for (const conn of answers) {
          const answer = conn.answer as HubResponse
          conn.answer = undefined
          write(conn, answer)
        }
      }
      function respond(conn: Connection, answer: HubResponse): void {
        if (batch.length === 0) setImmediate(flush)
        conn.answer = answer
        batch.push(conn)
      }

      function write(conn: Connection, answer: HubResponse): void {
        const { socket } = conn
        if (socket.destroyed) return
        let bytes: string
        let close = answer.headers.connection === 'close'
        // Answered before its body arrived in full (401, 413, 415, 408...): as node:http does,
        // the connection closes after the answer (the rest of the body is not worth reading,
        // and a client trickling it must not keep the connection).
        const early = conn.pending
        if (early !== undefined) {
          conn.pending = undefined
          early.fail(aborted())
          if (!close) answer = { ...answer, headers: { ...answer.headers, connection: 'close' } }
          close = true
        }
        try {
          bytes = encodeAnswer(answer)
        } catch (error) {
          logger.error({ err: error }, 'request failed')
          bytes = encodeAnswer(
            errorResponse(fail('HERALD_INTERNAL', 500, 'internal error'), { connection: 'close' }),
          )
          close = true
        }
        if (close) {
          detach(conn)
          if (early !== undefined) socket.end(bytes, () => socket.destroy())
          else socket.end(bytes)
          return
        }
        const room = socket.write(bytes)
        // Waiting for a head again (the guard's deadline), as node:http's keep-alive does.
        const finished = conn.finished
        conn.finished = undefined
        finished?.()
        conn.busy = false
        if (!room) {
          // The client does not read its answers: read no more requests until it does.
          socket.pause()
          socket.once('drain', () => {
            socket.resume()
            pump(conn)
          })
          return
        }
        if (socket.isPaused()) socket.resume()
        pump(conn)
      }

      function detach(conn: Connection): void {
        const { socket } = conn
        waiting.delete(conn)
        // The client went away mid-body: the route's read of it ends (never left unsettled).
        const pending = conn.pending
        conn.pending = undefined
        pending?.fail(aborted())
        byConnection.delete(socket)
        socket.removeListener('data', onData)
        socket.removeListener('error', onError)
        socket.removeListener('close', onClose)
        // Errors after the hand-over belong to whoever has the socket now; until then, none
        // may go unhandled.
        socket.on('error', noop)
      }

      function onError(this: Socket): void {
        const conn = byConnection.get(this)
        if (conn !== undefined) detach(conn)
        this.destroy()
      }

      function onClose(this: Socket): void {
        const conn = byConnection.get(this)
        if (conn !== undefined) detach(conn)
      }

      return wrapped
    },
    close() {
      for (const close of closers) close()
      closers.clear()
    },
  }
}

function noop(): void {}
