/**
 * Public types of @herald/server: sessions, the server, its options, and the small logger
 * and metrics interfaces it reports through.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type {
  IncomingHttpHeaders as Http2IncomingHttpHeaders,
  Http2ServerRequest,
  Http2ServerResponse,
  ServerHttp2Stream,
} from 'node:http2'
import type { Socket } from 'node:net'
import type { EventInit } from '@herald/protocol'

/**
 * A pre-encoded frame: the UTF-8 bytes of one or more complete event-stream frames. Encode an
 * event once with {@link createFrame} and hand the same frame to every session: the bytes are
 * shared, never copied per subscriber.
 */
export interface Frame {
  /** UTF-8 bytes of complete frames (each ends with its blank line, or is a comment line). */
  readonly bytes: Uint8Array
}

/**
 * Why a session ended.
 * - `client`: the client went away (socket closed, stream cancelled).
 * - `server`: the application called `close()`, or `StreamServer.close()` ran.
 * - `slow-consumer`: its queue passed `maxQueueBytes`; it was cut off to bound memory.
 * - `drain`: `StreamServer.drain()` closed it, after a jittered `retry:` hint.
 * - `error`: the transport failed, or an `onOpen` hook threw.
 * - `expired`: it lived longer than `maxSessionMs` (or the application said so).
 */
export type CloseReason = 'client' | 'server' | 'slow-consumer' | 'drain' | 'error' | 'expired'

/** Request headers as a plain record with lower-case names (the shape of Node's `req.headers`). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>

/** What the server learnt about a session's request. */
export interface SessionInfo {
  /** Client IP address (the socket's peer, or what the caller passed as `init.ip`); may be `''`. */
  readonly ip: string
  /** Request URL (absolute; the host comes from `Host`/`:authority`). */
  readonly url: URL
  /** Request headers, lower-case names. */
  readonly headers: RequestHeaders
  /** HTTP version of the request. Fetch requests report `'1.1'` unless the runtime says more. */
  readonly httpVersion: '1.1' | '2'
}

/** One open event stream. Obtain it from a {@link StreamServer} handler or `onOpen`. */
export interface Session {
  /** Unique within the process. */
  readonly id: string
  /**
   * The event ID the client last saw: the `Last-Event-ID` header, or else the `lastEventId`
   * query parameter; validated (no CR, LF or NUL, at most 1024 UTF-16 units). `undefined`
   * when absent or empty.
   */
  readonly lastEventId: string | undefined
  /** Request facts: ip, url, headers, HTTP version. */
  readonly info: SessionInfo
  /** Aborted when the session closes, for any reason. */
  readonly signal: AbortSignal
  /** Resolves with the reason once the session has closed. Never rejects. */
  readonly closed: Promise<CloseReason>
  /** Why the session closed, or `undefined` while it is open. */
  readonly closeReason: CloseReason | undefined
  /** Bytes queued or buffered by the transport, not yet accepted by the socket. */
  readonly bufferedBytes: number
  /** Bytes of frames handed to the transport so far (response headers not counted). */
  readonly bytesSent: number
  /**
   * Encodes and queues one event. Returns `false` (and does nothing) when the session is
   * closed, or when this frame made it a slow consumer.
   *
   * @throws {HeraldError} `HERALD_INVALID_EVENT_TYPE`, `HERALD_INVALID_EVENT_ID`,
   * `HERALD_INVALID_RETRY`, `HERALD_INVALID_DATA` for an event that cannot be encoded safely.
   */
  send(event: EventInit): boolean
  /**
   * Queues shared, pre-encoded bytes. Frames queued during one turn of the event loop leave in
   * ONE socket write. Returns `false` when the session is closed, or when this frame pushed
   * the queue past `maxQueueBytes` (the session is then closed as a slow consumer).
   */
  sendFrame(frame: Frame): boolean
  /**
   * Backpressure for a producer that streams to this one session (an LLM answer, an export):
   * resolves `true` once `bufferedBytes` is at most `maxBufferedBytes` (default: half of
   * `maxQueueBytes`), or `false` if the session closes first. Await it between sends and a
   * slow reader slows the producer down instead of being cut off as a slow consumer.
   *
   * @throws {TypeError} for a negative or non-finite `maxBufferedBytes`.
   */
  ready(maxBufferedBytes?: number): Promise<boolean>
  /** Queues a comment line (ignored by clients; keeps proxies from timing out). */
  comment(text?: string): boolean
  /**
   * Closes the session: queued frames are written first, then the response ends (except for
   * `slow-consumer` and `error`, which drop the queue and destroy the stream at once).
   * Idempotent. Default reason: `server`.
   */
  close(reason?: CloseReason): void
}

/**
 * Pino-compatible structured logger (a pino `Logger` fits as is). Herald logs one object per
 * line with a message: `{ sessionId, ip, reason, durationMs, bytes }, 'stream closed'`.
 */
export interface Logger {
  /** Debug-level line. */
  debug(obj: object, msg?: string): void
  /** Info-level line. */
  info(obj: object, msg?: string): void
  /** Warn-level line. */
  warn(obj: object, msg?: string): void
  /** Error-level line. */
  error(obj: object, msg?: string): void
}

/**
 * Counters the server increments. Labels in braces.
 * - `sessions_opened_total`
 * - `sessions_closed_total` {reason}
 * - `requests_rejected_total` {code}: 406, 429, 503, CORS and other refusals, by error code
 * - `slow_consumers_total`
 * - `writes_total`: socket writes (one per session per event-loop turn at most)
 * - `frames_total`: frames written (a write carries one or more)
 * - `bytes_total`: bytes written (before compression)
 * - `heartbeats_total`
 * - `connections_refused_total` {code}: connections refused before any request (503
 *   `HERALD_TOO_MANY_CONNECTIONS`, 429 `HERALD_TOO_MANY_CONNECTIONS_PER_IP`)
 * - `connections_timed_out_total`: connections closed for not sending a request head within
 *   `headTimeoutMs`
 */
export type ServerCounterName =
  | 'sessions_opened_total'
  | 'sessions_closed_total'
  | 'requests_rejected_total'
  | 'slow_consumers_total'
  | 'writes_total'
  | 'frames_total'
  | 'bytes_total'
  | 'heartbeats_total'
  | 'connections_refused_total'
  | 'connections_timed_out_total'

/**
 * Histograms the server observes.
 * - `session_duration_seconds` {reason}: how long sessions lived.
 * - `flush_duration_seconds`: time to write one slice of pending sessions (one event-loop turn).
 * - `flush_sessions`: sessions written in one slice (at most `flushSliceSessions`, fewer once
 *   the slice wrote `flushSliceBytes`).
 */
export type ServerHistogramName =
  | 'session_duration_seconds'
  | 'flush_duration_seconds'
  | 'flush_sessions'

/** Label values for a metric. */
export type MetricLabels = Readonly<Record<string, string>>

/**
 * The small metrics interface the server reports through (the hub wires it to prom-client).
 * Hot paths report once per event-loop turn with totals, never once per subscriber.
 */
export interface ServerMetrics {
  /** Adds `value` to a counter. */
  increment(name: ServerCounterName, value: number, labels?: MetricLabels): void
  /** Records one observation in a histogram. */
  observe(name: ServerHistogramName, value: number, labels?: MetricLabels): void
}

/** CORS policy for event streams. */
export interface CorsOptions {
  /**
   * Allowed origins: exact (`https://app.example.com`), wildcard subdomain
   * (`https://*.example.com`, which matches any depth of subdomain but not the bare domain),
   * or `'*'` (any origin; refused together with `credentials`).
   */
  origins: readonly string[]
  /** Send `Access-Control-Allow-Credentials: true` (cookies, `withCredentials`). Default false. */
  credentials?: boolean
  /** Preflight cache lifetime (`Access-Control-Max-Age`). Default 600. */
  maxAgeSeconds?: number
  /**
   * Request headers a preflight may ask for, beside `Last-Event-ID`, `Authorization`,
   * `Accept` and `Cache-Control`, which are always allowed.
   */
  allowHeaders?: readonly string[]
}

/** Compression settings: opt-in, see the README for why it is off by default. */
export interface CompressionOptions {
  /** Encodings to offer, in order of preference. Default `['br', 'gzip']`. */
  encodings?: readonly ('br' | 'gzip')[]
}

/** Options of {@link createStreamServer}. Validated at construction (`TypeError`). */
export interface StreamServerOptions {
  /**
   * Heartbeat: a comment frame sent to a session that has written nothing for this long
   * (between 1x and 1.25x this). Default 15 000; 0 disables.
   */
  heartbeatMs?: number
  /** `retry:` hint sent right after the headers. Default: none. */
  retryMs?: number | undefined
  /**
   * Per-session bound on queued plus transport-buffered bytes. Past it the session is closed
   * as a slow consumer and its memory released. Default 1 MiB.
   */
  maxQueueBytes?: number
  /** Global cap on open sessions; beyond it requests get 503 with `Retry-After`. Default none. */
  maxConnections?: number
  /** Cap on open sessions per client IP; beyond it requests get 429. Default none. */
  maxConnectionsPerIp?: number
  /** `Retry-After` (seconds) on 503 and 429 answers. Default 5. */
  retryAfterSeconds?: number
  /** Close sessions older than this with reason `expired`. Default none. */
  maxSessionMs?: number
  /**
   * Guarded connections (the lean path, and `node:http` servers passed to
   * {@link StreamServer.guardServer}): time a connection may take to send a request head, from
   * its start or from the end of its previous response (keep-alive). Default 10 000.
   */
  headTimeoutMs?: number
  /**
   * Guarded connections: most sockets waiting for a request head at once (they count against
   * `maxConnections` and `maxConnectionsPerIp` too). Default: half of the process's open-file
   * limit (`ulimit -n`, read from /proc), or 1024.
   */
  maxPendingConnections?: number
  /**
   * Sessions written per event-loop turn. Writes are coalesced: every session that queued
   * frames gets one transport write per pass. With thousands of sessions a pass is long (a
   * socket write costs microseconds), so it is cut in slices of this many sessions, and the
   * event loop runs I/O between two slices: requests (publishes, new connections: Node
   * accepts one connection per turn) wait one slice, not a whole pass. Sessions keep their
   * place in the pass; frames queued meanwhile join their session's next write.
   * Default 256.
   */
  flushSliceSessions?: number
  /**
   * Bytes written per event-loop turn, at most (the slice ends after the session that reaches
   * it). Past the node's capacity every session holds many frames, and a slice of
   * `flushSliceSessions` large writes would make a turn of tens of ms; Node accepts one new
   * connection per turn (libuv 1.45 and later), so new connections would wait in the kernel's
   * accept queue at a few tens a second. Default 256 KiB.
   */
  flushSliceBytes?: number
  /**
   * Connections come through a reverse proxy, so every socket has the proxy's address (the
   * client IP comes from a header, as `init.ip`): `maxConnectionsPerIp` then applies to
   * streams only, not to sockets waiting for a request head. Default `false`.
   */
  proxied?: boolean
  /** CORS allowlist. Default none: no CORS headers, every origin served. */
  cors?: CorsOptions | undefined
  /** Opt-in compression. Default `false`. Node adapters only. */
  compression?: false | CompressionOptions
  /** Pino-compatible logger. Default: silent. */
  logger?: Logger
  /** Metrics sink. Default: none. */
  metrics?: ServerMetrics
  /**
   * Called once a session's headers are out, before the handler returns it. A throw closes
   * that session with reason `error` (and is logged); it never reaches the caller.
   */
  onOpen?(session: Session): void
  /** Called once per session when it closes. A throw is logged and swallowed. */
  onClose?(session: Session, reason: CloseReason): void
}

/** Extra inputs for {@link StreamServer.handleNode} and {@link StreamServer.handleHttp2Stream}. */
export interface NodeHandleInit {
  /** Extra response headers for an accepted stream (for example `X-Request-Id`). */
  headers?: Readonly<Record<string, string>>
  /** Client IP to use (for example from a trusted `X-Forwarded-For`); default: socket peer. */
  ip?: string
}

/** Extra inputs for {@link StreamServer.handleFetch}. */
export interface FetchHandleInit {
  /** Extra response headers for an accepted stream. */
  headers?: Readonly<Record<string, string>>
  /** Client IP (Fetch has none): enables the per-IP limit. Default `''` (no per-IP limit). */
  ip?: string
}

/** A Fetch answer: the Response to return, and the session when the stream was accepted. */
export interface FetchHandleResult {
  /** Return this from your handler (streaming body when accepted). */
  response: Response
  /** The open session, or `undefined` when the request was refused or was a preflight. */
  session: Session | undefined
}

/** Options of {@link StreamServer.drain}. */
export interface DrainOptions {
  /**
   * Time budget. Sessions are closed in waves spread over it; whatever is still open at the
   * deadline is destroyed. Default 10 000.
   */
  deadlineMs?: number
  /** Number of waves. Default 10 (fewer when there are fewer sessions). */
  waves?: number
  /**
   * Each session gets `retry: base + random(0..retryJitterMs)` before it closes, so clients
   * come back spread out. Base: `retryMs` or 1000. Default jitter: `deadlineMs`.
   */
  retryJitterMs?: number
}

/** Node request objects the server accepts: `node:http` and the `node:http2` compat API. */
export type NodeRequest = IncomingMessage | Http2ServerRequest
/** Node response objects the server accepts. */
export type NodeResponse = ServerResponse | Http2ServerResponse
/** Headers of a `node:http2` core-API stream. */
export type Http2StreamHeaders = Http2IncomingHttpHeaders

/** A stream request as the lean connection path parsed it. */
export interface StreamRequest {
  /** `GET` or `HEAD`. */
  readonly method: string
  /** Request URL (absolute; the host comes from `Host`). */
  readonly url: URL
  /** Request headers, lower-case names; repeated headers joined with `, `. */
  readonly headers: RequestHeaders
  /** The client's address: the socket's peer, or what `clientIp` made of the request. */
  readonly ip: string
}

/** An answer that refuses a stream request (for example 401 from an authorization hook). */
export interface StreamRefusal {
  /** HTTP status, 400 to 599. */
  status: number
  /** Body, sent as is. Default: empty. */
  body?: string
  /** Extra response headers (for example `content-type`, `www-authenticate`). */
  headers?: Readonly<Record<string, string>>
}

/** The part of an `http.Server` that {@link StreamServer.guardServer} uses. */
export interface GuardableServer {
  prependListener(event: 'connection', listener: (socket: Socket) => void): unknown
  prependListener(
    event: 'request',
    listener: (req: IncomingMessage, res: ServerResponse) => void,
  ): unknown
}

/** Options of {@link StreamServer.createConnectionHandler}. */
export interface ConnectionHandlerOptions {
  /**
   * The `node:http` (or https) server that gets every connection the lean path does not take,
   * with the bytes already read put back: `http.createServer(app)`, never listening itself.
   */
  fallback: { emit(event: 'connection', socket: Socket): boolean }
  /**
   * Which requests take the lean path. Default: `GET` or `HEAD` whose `Accept` names
   * `text/event-stream`. Everything else (and anything unusual: a body, pipelining, an
   * oversized or malformed head) goes to `fallback` untouched.
   */
  match?(request: StreamRequest): boolean
  /**
   * Runs before admission, may be async (authentication): return `undefined` to go on, or a
   * refusal to answer with. A throw answers 500 (logged).
   */
  authorize?(request: StreamRequest): StreamRefusal | undefined | Promise<StreamRefusal | undefined>
  /** Called with each opened session; a throw or rejection closes that session (`error`). */
  onSession?(session: Session, request: StreamRequest): void | Promise<void>
  /**
   * The client address a stream request counts for (`maxConnectionsPerIp`, `SessionInfo.ip`,
   * logs), asked once its head is parsed, before `match`. Default: the socket's peer address.
   * Behind a trusted reverse proxy, return the forwarded client address (the last
   * `X-Forwarded-For` entry), or every client would share the proxy's limit.
   */
  clientIp?(request: StreamRequest): string
  /** Time allowed for the request head to arrive, ms. Default 10 000. */
  headersTimeoutMs?: number
  /** Largest request head the lean path parses, bytes; bigger ones go to `fallback`. Default 16 KiB. */
  maxHeaderBytes?: number
  /** Extra response headers for every lean stream. */
  headers?: Readonly<Record<string, string>>
  /**
   * Once a stream's response head is going out, keep only the connection's TCP handle and
   * let go of node:net's `Socket` (about 0.8 KiB less per idle stream): the socket's
   * listeners are removed and it is destroyed without closing the connection, which also
   * takes the stream off its `net.Server`'s connection count (`getConnections`, `close()`
   * wait only for the other connections; {@link StreamServer.drain} and `close` end the
   * streams). Runtimes without Node's stream bindings, and TLS sockets, keep the `Socket`.
   * `false` keeps it for every stream, for listeners of your own on it. Default `true`.
   */
  detachSockets?: boolean
  /**
   * Whether a lean stream's {@link SessionInfo} keeps the request's credentials for the
   * stream's life: its `Authorization`, `Proxy-Authorization` and `Cookie` fields, and the
   * values of its `authorization`/`access_token` query parameters. `false` drops them once the
   * stream is open (`authorize`, `match` and `onSession` still see the whole request): less
   * memory per stream (a browser's cookies are often most of its request head), and no bearer
   * token kept in memory after it was checked. Default `true`.
   */
  keepCredentials?: boolean
  /**
   * Extra response headers for one stream, asked after `authorize` accepted it (they win over
   * `headers`); `undefined` for none.
   */
  responseHeaders?(request: StreamRequest): Readonly<Record<string, string>> | undefined
}

/** Turns requests into event-stream sessions, and tracks them. */
export interface StreamServer {
  /**
   * Handles a `node:http` or `node:http2` compat request. Answers refusals itself (405, 406,
   * 400, 403, 429, 503, CORS preflight 204) and returns `undefined`, or returns the open
   * session (headers already flushed).
   */
  handleNode(req: NodeRequest, res: NodeResponse, init?: NodeHandleInit): Session | undefined
  /**
   * For an app that serves other routes beside its streams, first thing for every HTTP/1.1
   * request: `true` when `req` came pipelined behind a stream request on the same connection.
   * A stream's response never ends, so `req` could never be answered (and `node:http` would
   * queue a response per such request): the connection is closed (the stream's client
   * reconnects and resumes), the refusal logged and counted
   * (`requests_rejected_total{code="HERALD_PIPELINED_REQUEST"}`). Stop when it says `true`.
   * Pass `stream` (its response) for a request you route as a stream, before any `await`, so
   * that requests pipelined behind it are refused even while it is being authorized; the
   * claim ends with that response. {@link StreamServer.handleNode} does all this itself.
   */
  refusePipelined(req: NodeRequest, stream?: NodeResponse): boolean
  /**
   * Guards a `node:http` (or https) server's connections: a socket that has not sent a request
   * head yet counts against `maxConnections`, `maxConnectionsPerIp` and
   * `maxPendingConnections`, is refused beyond them (503 or 429, logged at most once a second,
   * counted in `connections_refused_total`), and is closed when no head arrived within
   * `headTimeoutMs` (`connections_timed_out_total`). The lean path guards its connections
   * itself. Call it once, before the server listens.
   */
  guardServer(server: GuardableServer): void
  /** Handles a `node:http2` core-API stream (`server.on('stream', ...)`). */
  handleHttp2Stream(
    stream: ServerHttp2Stream,
    headers: Http2StreamHeaders,
    init?: NodeHandleInit,
  ): Session | undefined
  /**
   * Handles a Fetch `Request` (Bun, Deno, Hono, Next.js route handlers, ...). Uses no Node
   * built-ins. The response body streams; the session is `undefined` when refused.
   */
  handleFetch(request: Request, init?: FetchHandleInit): FetchHandleResult
  /**
   * The lean HTTP/1.1 path: a `net.Server` connection listener that parses stream requests
   * itself and serves them on the bare socket (less than half the memory per idle
   * connection of a `node:http` response), handing every other connection to `fallback`:
   * `net.createServer(streams.createConnectionHandler({ fallback: http.createServer(app) }))`.
   */
  createConnectionHandler(options: ConnectionHandlerOptions): (socket: Socket) => void
  /** Open sessions. */
  readonly sessions: ReadonlySet<Session>
  /** Number of open sessions. */
  readonly size: number
  /**
   * How long, in ms, the oldest frame waiting for its session's write has waited (0 when
   * every queued frame has been handed to a transport). It grows while the pass over the
   * sessions with queued frames takes longer than events arrive: the node writes less than it
   * is asked to. Frames held back because a slow peer has not taken the previous write are not
   * counted (that is `maxQueueBytes`' job).
   */
  readonly writeLagMs: number
  /**
   * While frames wait for their write: how long, in ms, a frame queued now would wait for it,
   * at worst. The flush writes each session once per pass, so a frame queued for a session the
   * pass just wrote waits a whole pass, which writes every frame queued now plus, past the
   * node's capacity, about as many arriving meanwhile: twice the frames queued in all
   * sessions, over the rate the node has been writing frames (measured while the flush is
   * busy, the rest of the node's work included). 0 when nothing waits or before the first
   * measurement. Frames held for a slow peer count too. The hub's publish admission refuses
   * an event that this would deliver later than its bound.
   */
  readonly writeDelayMs: number
  /**
   * {@link StreamServer.writeDelayMs} if `frames` more frames were queued first (events
   * accepted but not yet handed to the sessions: the hub's admission counts them).
   *
   * @throws {TypeError} when `frames` is not a non-negative number.
   */
  writeDelayMsWith(frames: number): number
  /**
   * Resolves once every frame queued before the call has been handed to its transport (or its
   * session closed, or waits for a slow peer to take the previous write): at once when nothing
   * waits, else at the end of the pass in progress or of the next one.
   */
  flushed(): Promise<void>
  /** `true` once `drain()` or `close()` ran: new requests get 503. */
  readonly draining: boolean
  /**
   * Stops accepting (503), sends every session a jittered `retry:` hint and closes them in
   * waves; resolves when all are closed and their transports have handed over the last bytes
   * (at the latest at the deadline), so the process can exit right after.
   */
  drain(options?: DrainOptions): Promise<void>
  /** Stops accepting and closes every session now (reason `server`). */
  close(): Promise<void>
}
