/**
 * `createHub`: topics, publish, exact replay, auth and metrics over HTTP, on top of
 * `@herald/server`. The hub is a library: mount `hub.handleNode` in `node:http`, Express
 * or Fastify, or return `hub.fetch(request)` from Hono, Bun, Deno or a route handler.
 */

import type { Socket } from 'node:net'
import { HeraldError, isHeraldError } from '@herald/protocol'
import type {
  CorsOptions,
  DrainOptions,
  Logger,
  NodeRequest,
  NodeResponse,
  Session,
  StreamRequest,
  StreamServer,
  StreamServerOptions,
} from '@herald/server'
import { createStreamServer } from '@herald/server'
import type { AppendInput, EventStore, StoredEvent } from '@herald/store'
import { assertValidTopicPattern } from '@herald/store'
import { type Span, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Authenticator, AuthOptions, Principal } from './auth.js'
import { canPublish, canSubscribe, createAuthenticator } from './auth.js'
import type { FanOut } from './fan-out.js'
import { createFanOut } from './fan-out.js'
import type { HubRequest, HubResponse } from './http-io.js'
import {
  decodeUtf8,
  errorResponse,
  fail,
  fromFetch,
  fromNode,
  fromStreamRequest,
  json,
  mercureCursorUrl,
  originAllowed,
  toResponse,
  writeNode,
} from './http-io.js'
import type { IdempotencyOptions } from './idempotency.js'
import { createIdempotencyCache } from './idempotency.js'
import type { Broker } from './memory-broker.js'
import { createMemoryBroker } from './memory-broker.js'
import type { HubMetrics } from './metrics.js'
import { createHubMetrics } from './metrics.js'
import type { PublishLimits } from './publish-request.js'
import { parseFormPublish, parseJsonPublish, toAppendInput } from './publish-request.js'
import type { RateLimiter, RateLimitOptions } from './rate-limit.js'
import { createRateLimiter } from './rate-limit.js'
import type { TopicSchema } from './schema.js'
import { createSchemaCheck } from './schema.js'

/** Stream options passed through to `@herald/server` (the hub wires logger, metrics and hooks). */
export type HubStreamOptions = Omit<
  StreamServerOptions,
  'logger' | 'metrics' | 'onOpen' | 'onClose' | 'cors'
>

/** Options of {@link createHub}. */
export interface HubOptions {
  /** The event log. */
  store: EventStore
  /** Fan-out across nodes. Default: in-process (a single node). */
  broker?: Broker | undefined
  /** JWT authentication. Default: off (anyone may publish and subscribe; development only). */
  auth?: AuthOptions | undefined
  /** Largest event `data`, in UTF-8 bytes (413 beyond). Default 1 MiB. */
  maxPayloadBytes?: number | undefined
  /** Largest publish request body, in bytes. Default 4 x `maxPayloadBytes`. */
  maxBodyBytes?: number | undefined
  /** Most events per publish request. Default 1000. */
  maxBatch?: number | undefined
  /**
   * Deadline for a publish request body to arrive in full, in ms (408 and the connection
   * closed beyond; 0: none). Default 30 000.
   */
  bodyTimeoutMs?: number | undefined
  /** Publish requests per second per token (or IP without a token); `false` disables. Default 1000/s, burst 2000. */
  publishRateLimit?: RateLimitOptions | false | undefined
  /** Allowed browser origins, for streams and publish (CORS). Default: none (no CORS headers). */
  cors?: CorsOptions | undefined
  /** Event-stream options: heartbeat, retry hint, queue and connection limits. */
  stream?: HubStreamOptions | undefined
  /**
   * Read the client IP from `X-Forwarded-For` (its rightmost entry, appended by the proxy) and
   * the scheme from `X-Forwarded-Proto`: only behind one proxy you trust. Default `false`.
   */
  trustProxy?: boolean | undefined
  /** Pino-compatible logger. Default: silent. */
  logger?: Logger | undefined
  /** Add prom-client's process metrics to `/metrics`. Default `false`. */
  processMetrics?: boolean | undefined
  /** Events per replay read. Default 500. */
  replayPageSize?: number | undefined
  /** Most `topic` parameters in one subscription. Default 100. */
  maxTopicsPerSubscription?: number | undefined
  /** Data schemas per topic pattern (Standard Schema: zod, valibot, ...); 400 on mismatch. */
  schemas?: readonly TopicSchema[] | undefined
  /** How long and how many `Idempotency-Key`s of publish requests are remembered. */
  idempotency?: IdempotencyOptions | undefined
}

/** What `hub.publish` takes: the JSON shape of `POST /publish`. */
export interface PublishInput {
  /** Concrete topic. */
  topic: string
  /** Payload: a string as is, any other JSON value serialised. */
  data: unknown
  /** Event type. */
  event?: string | undefined
  /** Publisher's own id, kept as metadata (the hub assigns the cursor). */
  id?: string | undefined
  /** `retry:` hint. */
  retry?: number | undefined
  /** Deliver only to subscribers whose token grants the topic. */
  private?: boolean | undefined
}

/** A running hub. */
export interface Hub {
  /**
   * Node `(req, res)` handler for `node:http` / `node:http2` compat, Express and Fastify
   * (raw request/response). With `next` (Express), unknown paths go to `next()` instead of a 404.
   */
  handleNode(req: NodeRequest, res: NodeResponse, next?: (error?: unknown) => void): void
  /**
   * The lean HTTP/1.1 path for subscribers: a `net` connection listener that serves
   * `GET`/`HEAD /events` and `GET /.well-known/mercure` streams on the bare socket (about half
   * the memory per idle stream of `node:http`), with the same authorization, JSON errors and
   * CORS headers as {@link Hub.handleNode}, and hands every other connection (publish, health,
   * metrics, CORS preflights, Mercure's `lastEventID` alias) to `fallback`, an HTTP server
   * mounting `hub.handleNode` that never listens itself:
   * `net.createServer(hub.createConnectionHandler(http.createServer(hub.handleNode)))`.
   * Plain HTTP/1.1 only (not TLS, not HTTP/2).
   */
  createConnectionHandler(fallback: {
    emit(event: 'connection', socket: Socket): boolean
  }): (socket: Socket) => void
  /** Fetch handler: Hono (`c.req.raw`), Bun, Deno, route handlers. */
  fetch(request: Request, init?: { ip?: string }): Promise<Response>
  /**
   * Publishes events (trusted: no auth, no rate limit), atomically. Resolves to the stored
   * events with their ids.
   *
   * @throws {HeraldError} validation codes as `POST /publish`, `HERALD_STORE_UNAVAILABLE`.
   */
  publish(events: PublishInput | readonly PublishInput[]): Promise<StoredEvent[]>
  /** `true` when the store answers. */
  ready(): Promise<boolean>
  /** The metrics registry (prom-client), also served at `/metrics`. */
  readonly metrics: HubMetrics
  /** The underlying stream server. */
  readonly streams: StreamServer
  /** Open subscriptions on this node. */
  readonly subscribers: number
  /** Stops accepting streams (503) and closes the open ones in jittered waves. */
  drain(options?: DrainOptions): Promise<void>
  /** Closes every stream and the broker subscription. The store is left to its owner. */
  close(): Promise<void>
}

const MiB = 1024 * 1024
/** Room for frame overhead (`id:`, `event:`, `data:` lines) on top of two largest events. */
const QUEUE_HEADROOM_BYTES = 64 * 1024
const BROKER_RETRY_MS = 1000
const tracer = trace.getTracer('@herald/hub')
const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} }

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `${name} must be a positive integer, got ${value}`,
    )
  }
  return value
}

/**
 * Creates a hub over `options.store`.
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG` for invalid options.
 */
export function createHub(options: HubOptions): Hub {
  if (options === null || typeof options !== 'object' || options.store === undefined) {
    throw new HeraldError('HERALD_INVALID_CONFIG', 'createHub: options.store is required')
  }
  const { store } = options
  const broker = options.broker ?? createMemoryBroker()
  const ownsBroker = options.broker === undefined
  const logger = options.logger ?? silent
  const maxPayloadBytes = positive('maxPayloadBytes', options.maxPayloadBytes, MiB)
  const limits: PublishLimits = {
    maxPayloadBytes,
    maxBatch: positive('maxBatch', options.maxBatch, 1000),
  }
  const maxBodyBytes = positive(
    'maxBodyBytes',
    options.maxBodyBytes,
    Math.max(4 * maxPayloadBytes, 64 * 1024),
  )
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 30_000
  if (!Number.isSafeInteger(bodyTimeoutMs) || bodyTimeoutMs < 0) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `bodyTimeoutMs must be a non-negative integer, got ${bodyTimeoutMs}`,
    )
  }
  const auth: Authenticator = createAuthenticator(options.auth)
  const checkSchemas = createSchemaCheck(options.schemas ?? [])
  const maxTopics = positive('maxTopicsPerSubscription', options.maxTopicsPerSubscription, 100)
  const idempotency = createIdempotencyCache<HubResponse>(options.idempotency)
  let limiter: RateLimiter | undefined
  try {
    limiter =
      options.publishRateLimit === false
        ? undefined
        : createRateLimiter(options.publishRateLimit ?? { rate: 1000, burst: 2000 })
  } catch (error) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `publishRateLimit: ${(error as Error).message}`)
  }
  if (!auth.enabled) {
    logger.warn({}, 'no JWT key configured: anyone who can reach the hub may publish')
  }
  const cors = options.cors
  const publishStartedAt = new Map<string, number>()
  const expiryTimers = new Map<Session, ReturnType<typeof setTimeout>>()

  // Late-bound: the stream server needs the metrics, the metrics read the stream server.
  let streams: StreamServer | undefined
  let fanOut: FanOut | undefined
  const metrics = createHubMetrics(
    {
      connections: () => streams?.size ?? 0,
      subscribersByTopic: () => fanOut?.countByTopic() ?? new Map(),
    },
    options.processMetrics === true,
  )
  // One publish must never cut a subscriber off: the per-session queue holds at least two of
  // the largest events plus headroom, and replay (below) waits for room between frames.
  const minQueueBytes = 2 * maxPayloadBytes + QUEUE_HEADROOM_BYTES
  const maxQueueBytes = options.stream?.maxQueueBytes ?? Math.max(8 * MiB, 4 * maxPayloadBytes)
  if (maxQueueBytes < minQueueBytes) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `stream.maxQueueBytes (${maxQueueBytes}) must be at least 2 x maxPayloadBytes + ${QUEUE_HEADROOM_BYTES} (${minQueueBytes}): a subscriber's queue must hold the largest event`,
    )
  }
  streams = createStreamServer({
    ...options.stream,
    maxQueueBytes,
    ...(cors === undefined ? {} : { cors }),
    logger,
    metrics: metrics.server,
    onClose(session) {
      const timer = expiryTimers.get(session)
      if (timer !== undefined) {
        clearTimeout(timer)
        expiryTimers.delete(session)
      }
    },
  })
  const streamServer = streams
  fanOut = createFanOut({
    store,
    metrics,
    replayPageSize: positive('replayPageSize', options.replayPageSize, 500),
    maxReplayBuffer: 50_000,
    replayHighWaterBytes: Math.floor(maxQueueBytes / 2),
    publishStartedAt,
  })
  const fan = fanOut

  // ONE broker subscription per node, whatever the number of subscribers.
  const stopping = new AbortController()
  const pump = (async () => {
    while (!stopping.signal.aborted) {
      try {
        for await (const batch of broker.subscribe(stopping.signal)) {
          try {
            fan.dispatch(batch)
          } catch (error) {
            logger.error({ err: error }, 'fan-out failed')
          }
        }
      } catch (error) {
        logger.error({ err: error }, 'broker subscription failed')
      }
      if (stopping.signal.aborted) break
      // Live events may have been missed while the subscription was down: close every
      // stream so its client reconnects and replays the gap from the log, then resubscribe.
      logger.error({ streams: streamServer.size }, 'broker subscription ended: resubscribing')
      for (const session of [...streamServer.sessions]) session.close('error')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, BROKER_RETRY_MS)
        stopping.signal.addEventListener('abort', () => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  })()

  async function timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      return await fn()
    } finally {
      metrics.storeLatency.observe({ op }, (performance.now() - started) / 1000)
    }
  }

  async function append(inputs: readonly AppendInput[], started: number): Promise<StoredEvent[]> {
    let stored: StoredEvent[]
    try {
      stored = await timed('append', () => store.append(inputs))
    } catch (error) {
      if (isHeraldError(error)) throw error
      throw new HeraldError(
        'HERALD_STORE_UNAVAILABLE',
        `event store failed: ${(error as Error).message}`,
        {
          status: 503,
          cause: error,
        },
      )
    }
    metrics.published.inc(stored.length)
    const first = stored[0]
    if (first !== undefined) {
      if (publishStartedAt.size > 10_000) publishStartedAt.clear()
      publishStartedAt.set(first.id, started)
    }
    await broker.publish(stored)
    return stored
  }

  function corsHeaders(req: HubRequest): Record<string, string> {
    const origin = req.header('origin')
    if (cors === undefined || origin === undefined || !originAllowed(cors, origin)) return {}
    const headers: Record<string, string> = {
      'access-control-allow-origin': origin,
      vary: 'Origin',
    }
    if (cors.credentials === true) headers['access-control-allow-credentials'] = 'true'
    return headers
  }

  /**
   * A publish authenticated by cookie must come from the hub's own origin or an allowed CORS
   * origin: browsers attach cookies to cross-site form posts (no preflight), which would
   * otherwise publish as the victim (CSRF). `Referer` stands in when `Origin` is absent.
   */
  function assertPublishOrigin(req: HubRequest): void {
    let origin = req.header('origin')
    if (origin === undefined) {
      const referer = req.header('referer')
      if (referer !== undefined) {
        try {
          origin = new URL(referer).origin
        } catch {
          origin = undefined
        }
      }
    }
    if (
      origin !== undefined &&
      origin !== 'null' &&
      (origin === req.url.origin || (cors !== undefined && originAllowed(cors, origin)))
    ) {
      return
    }
    throw fail(
      'HERALD_ORIGIN_NOT_ALLOWED',
      403,
      origin === undefined
        ? 'a publish authenticated by cookie needs an Origin (or Referer) header from the hub or an allowed CORS origin; send the token in Authorization instead'
        : `a publish authenticated by cookie from origin ${JSON.stringify(origin)} is refused: not the hub's origin nor an allowed CORS origin`,
    )
  }

  async function authenticate(req: HubRequest): Promise<Principal> {
    return auth.authenticate({ header: (name) => req.header(name), url: req.url })
  }

  /** Authorizes a subscription; answers the topics, or throws. */
  async function authorizeSubscribe(
    req: HubRequest,
  ): Promise<{ topics: string[]; principal: Principal }> {
    const topics = req.url.searchParams.getAll('topic')
    if (topics.length === 0) {
      throw fail('HERALD_INVALID_TOPIC', 400, 'name at least one topic: /events?topic=orders/*')
    }
    if (topics.length > maxTopics) {
      throw fail('HERALD_INVALID_TOPIC', 400, `at most ${maxTopics} topics per subscription`)
    }
    for (const topic of topics) assertValidTopicPattern(topic)
    const principal = await authenticate(req)
    if (auth.enabled && !principal.authenticated) {
      if (!auth.anonymousSubscribe)
        throw fail('HERALD_UNAUTHORIZED', 401, 'a token is required to subscribe')
    }
    if (principal.authenticated) {
      for (const topic of topics) {
        if (!canSubscribe(principal, topic)) {
          throw fail(
            'HERALD_FORBIDDEN',
            403,
            `the token does not grant subscribing to ${JSON.stringify(topic)}`,
          )
        }
      }
    }
    return { topics: [...new Set(topics)], principal }
  }

  function watchExpiry(session: Session, principal: Principal): void {
    if (principal.expiresAt === undefined) return
    const ms = principal.expiresAt - Date.now()
    if (ms <= 0) {
      session.close('expired')
      return
    }
    // setTimeout takes at most 2^31-1 ms (~24.8 days); longer tokens outlive any session anyway.
    const timer = setTimeout(() => session.close('expired'), Math.min(ms, 2 ** 31 - 1))
    timer.unref?.()
    expiryTimers.set(session, timer)
  }

  function startSubscription(session: Session, topics: string[], principal: Principal): void {
    watchExpiry(session, principal)
    const span = tracer.startSpan('herald.subscribe', {
      attributes: {
        'herald.topics': topics,
        'herald.resume': session.lastEventId !== undefined,
      },
    })
    fan.attach(session, topics, principal).then(
      () => span.end(),
      (error: unknown) => {
        logger.error({ err: error, sessionId: session.id }, 'replay failed')
        span.recordException(error as Error)
        span.setStatus({ code: SpanStatusCode.ERROR })
        span.end()
      },
    )
  }

  /** Parses and authorizes a publish body. Throws `HeraldError`s. */
  function parsePublish(
    text: string,
    isJson: boolean,
    principal: Principal,
  ): { events: AppendInput[]; batch: boolean } {
    let events: AppendInput[]
    let batch = false
    if (isJson) {
      const parsed = parseJsonPublish(text, limits)
      events = parsed.events
      batch = parsed.batch
    } else {
      events = parseFormPublish(text, limits)
    }
    if (auth.enabled) {
      for (const event of events) {
        if (!canPublish(principal, event.topic)) {
          throw fail(
            'HERALD_FORBIDDEN',
            403,
            `the token does not grant publishing to ${JSON.stringify(event.topic)}`,
          )
        }
      }
    }
    return { events, batch }
  }

  /** Validates and appends parsed, authorized events. Throws `HeraldError`s. */
  async function accept(
    { events, batch }: { events: AppendInput[]; batch: boolean },
    mercure: boolean,
    started: number,
    span: Span,
  ): Promise<HubResponse> {
    await checkSchemas(events)
    span.setAttribute('herald.events', events.length)
    const stored = await append(events, started)
    const ids = stored.map((e) => e.id)
    if (mercure) {
      return {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: ids[0] ?? '',
      }
    }
    return json(200, batch ? { ids } : { id: ids[0], ids })
  }

  async function handlePublish(req: HubRequest, mercure: boolean): Promise<HubResponse> {
    const started = performance.now()
    const span = tracer.startSpan('herald.publish')
    try {
      const principal = await authenticate(req)
      if (auth.enabled && !principal.authenticated) {
        throw fail(
          'HERALD_UNAUTHORIZED',
          401,
          'a token with a publish claim is required to publish',
        )
      }
      if (principal.tokenFrom === 'cookie') assertPublishOrigin(req)
      if (limiter !== undefined) {
        const wait = limiter.take(principal.token ?? `ip:${req.ip}`)
        if (wait > 0) {
          const error = fail(
            'HERALD_PUBLISH_RATE_LIMITED',
            429,
            'too many publish requests; slow down',
          )
          metrics.publishErrors.inc({ code: error.code })
          return errorResponse(error, { 'retry-after': String(Math.max(1, Math.ceil(wait))) })
        }
      }
      const type = (req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
      const isJson = type === 'application/json' || type.endsWith('+json')
      const isForm = type === 'application/x-www-form-urlencoded'
      if (!isJson && !isForm) {
        throw fail(
          'HERALD_UNSUPPORTED_MEDIA_TYPE',
          415,
          'publish with Content-Type application/json (or application/x-www-form-urlencoded)',
        )
      }
      const length = Number(req.header('content-length') ?? 0)
      if (length > maxBodyBytes) {
        throw fail(
          'HERALD_PAYLOAD_TOO_LARGE',
          413,
          `request body larger than ${maxBodyBytes} bytes`,
        )
      }
      const text = decodeUtf8(await req.body(maxBodyBytes, bodyTimeoutMs))
      // Grants are checked before the idempotency cache: a remembered answer is never handed
      // to a caller who may not publish what it was for.
      const parsed = parsePublish(text, isJson, principal)
      const key = req.header('idempotency-key')
      if (key === undefined) return await accept(parsed, mercure, started, span)
      if (key.length === 0 || key.length > 255) {
        throw fail('HERALD_INVALID_PUBLISH', 400, 'Idempotency-Key must be 1 to 255 characters')
      }
      // Keys are scoped to the caller: another publisher's key never collides with yours.
      const scope = principal.subject ?? principal.token ?? `ip:${req.ip}`
      const { answer, replayed } = await idempotency.run(
        `${scope}\u0000${mercure ? 'form' : 'json'}\u0000${key}`,
        text,
        () => accept(parsed, mercure, started, span),
      )
      span.setAttribute('herald.idempotent_replay', replayed)
      return replayed
        ? { ...answer, headers: { ...answer.headers, 'idempotent-replayed': 'true' } }
        : answer
    } catch (error) {
      const herald = isHeraldError(error)
        ? error
        : new HeraldError('HERALD_STORE_UNAVAILABLE', 'publish failed', {
            status: 503,
            cause: error,
          })
      if (!isHeraldError(error)) logger.error({ err: error }, 'publish failed')
      metrics.publishErrors.inc({ code: herald.code })
      span.recordException(herald)
      span.setStatus({ code: SpanStatusCode.ERROR, message: herald.code })
      return errorResponse(herald)
    } finally {
      span.end()
    }
  }

  async function ready(): Promise<boolean> {
    if (streamServer.draining) return false
    try {
      const health = await Promise.race([
        timed('health', () => store.health()),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('timeout')), 2000).unref?.(),
        ),
      ])
      return health.ok
    } catch {
      return false
    }
  }

  function notAllowed(allow: string): HubResponse {
    return errorResponse(fail('HERALD_METHOD_NOT_ALLOWED', 405, `use ${allow}`), { allow })
  }

  /** Answers every route except an accepted stream. `undefined`: not a hub path. */
  async function route(req: HubRequest): Promise<HubResponse | undefined> {
    const path = req.url.pathname
    const method = req.method
    if (method === 'OPTIONS' && (path === '/publish' || path === '/.well-known/mercure')) {
      const headers = corsHeaders(req)
      if (headers['access-control-allow-origin'] !== undefined) {
        headers['access-control-allow-methods'] = 'POST, OPTIONS'
        headers['access-control-allow-headers'] = 'Authorization, Content-Type, Idempotency-Key'
        headers['access-control-max-age'] = String(cors?.maxAgeSeconds ?? 600)
      }
      return { status: 204, headers, body: '' }
    }
    switch (path) {
      case '/publish':
      case '/.well-known/mercure':
        if (method === 'GET' && path === '/.well-known/mercure') return undefined
        if (method !== 'POST') return notAllowed('POST')
        return handlePublish(req, path !== '/publish')
      case '/healthz':
        if (method !== 'GET' && method !== 'HEAD') return notAllowed('GET')
        return json(200, { status: 'ok' })
      case '/readyz':
        if (method !== 'GET' && method !== 'HEAD') return notAllowed('GET')
        return (await ready())
          ? json(200, { status: 'ready' })
          : errorResponse(
              fail(
                'HERALD_STORE_UNAVAILABLE',
                503,
                'the event store is not reachable or the hub is draining',
              ),
            )
      case '/metrics':
        if (method !== 'GET') return notAllowed('GET')
        return {
          status: 200,
          headers: { 'content-type': metrics.registry.contentType },
          body: await metrics.registry.metrics(),
        }
      case '/':
        if (method !== 'GET') return notAllowed('GET')
        return json(200, {
          name: 'herald',
          endpoints: [
            'GET /events?topic=',
            'POST /publish',
            'POST /.well-known/mercure',
            'GET /healthz',
            'GET /readyz',
            'GET /metrics',
          ],
        })
      default:
        return undefined
    }
  }

  function isStreamPath(req: HubRequest): boolean {
    const path = req.url.pathname
    return (
      path === '/events' ||
      (path === '/.well-known/mercure' && req.method !== 'POST' && req.method !== 'OPTIONS')
    )
  }

  async function handleNodeAsync(
    req: NodeRequest,
    res: NodeResponse,
    next: ((error?: unknown) => void) | undefined,
  ): Promise<void> {
    let request: HubRequest
    try {
      request = fromNode(req, options.trustProxy === true)
    } catch (error) {
      if (!isHeraldError(error)) throw error
      writeNode(res, errorResponse(error), req.method ?? 'GET', req)
      return
    }
    if (isStreamPath(request) && request.method === 'OPTIONS') {
      // A CORS preflight never carries credentials: answer it before any auth check, or
      // every cross-origin reconnect (Last-Event-ID forces a preflight) would fail.
      streamServer.handleNode(req, res, { ip: request.ip })
      return
    }
    if (isStreamPath(request)) {
      let subscription: { topics: string[]; principal: Principal }
      try {
        subscription = await authorizeSubscribe(request)
      } catch (error) {
        const herald = isHeraldError(error)
          ? error
          : fail('HERALD_UNAUTHORIZED', 401, 'authentication failed')
        writeNode(res, errorResponse(herald, corsHeaders(request)), request.method)
        return
      }
      const mercureUrl = mercureCursorUrl(request.url)
      if (mercureUrl !== undefined) req.url = `${mercureUrl.pathname}${mercureUrl.search}`
      const session = streamServer.handleNode(req, res, { ip: request.ip })
      if (session !== undefined)
        startSubscription(session, subscription.topics, subscription.principal)
      return
    }
    const answer = await route(request)
    if (answer === undefined) {
      if (next !== undefined) {
        next()
        return
      }
      writeNode(
        res,
        errorResponse(fail('HERALD_NOT_FOUND', 404, `no route ${request.url.pathname}`)),
        request.method,
        req,
      )
      return
    }
    writeNode(
      res,
      { ...answer, headers: { ...corsHeaders(request), ...answer.headers } },
      request.method,
      req,
    )
  }

  return {
    get metrics() {
      return metrics
    },
    get streams() {
      return streamServer
    },
    get subscribers() {
      return fan.size
    },

    handleNode(req, res, next) {
      handleNodeAsync(req, res, next).catch((error: unknown) => {
        logger.error({ err: error }, 'request failed')
        if (!res.headersSent) {
          writeNode(
            res,
            errorResponse(
              new HeraldError('HERALD_STORE_UNAVAILABLE', 'internal error', { status: 500 }),
            ),
            'GET',
          )
        } else req.destroy()
      })
    },

    createConnectionHandler(fallback) {
      // What authorize learnt, for onSession: keyed by the request object, gone with it.
      const subscriptions = new WeakMap<StreamRequest, { topics: string[]; principal: Principal }>()
      return streamServer.createConnectionHandler({
        fallback,
        match(request) {
          if (request.method !== 'GET' && request.method !== 'HEAD') return false
          const path = request.url.pathname
          if (path !== '/events' && path !== '/.well-known/mercure') return false
          // Mercure's `lastEventID` alias needs the URL rewritten: the node path does that.
          return mercureCursorUrl(request.url) === undefined
        },
        async authorize(request) {
          const view = fromStreamRequest(request, options.trustProxy === true)
          try {
            subscriptions.set(request, await authorizeSubscribe(view))
            return undefined
          } catch (error) {
            const herald = isHeraldError(error)
              ? error
              : fail('HERALD_UNAUTHORIZED', 401, 'authentication failed')
            const answer = errorResponse(herald, corsHeaders(view))
            return { status: answer.status, headers: answer.headers, body: answer.body }
          }
        },
        onSession(session, request) {
          const subscription = subscriptions.get(request)
          subscriptions.delete(request)
          if (subscription === undefined) {
            session.close('error')
            return
          }
          startSubscription(session, subscription.topics, subscription.principal)
        },
      })
    },

    async fetch(request, init) {
      const hubRequest = fromFetch(request, init?.ip ?? '')
      if (isStreamPath(hubRequest) && hubRequest.method === 'OPTIONS') {
        // Preflights carry no credentials: see handleNodeAsync.
        return streamServer.handleFetch(request, { ip: hubRequest.ip }).response
      }
      if (isStreamPath(hubRequest)) {
        let subscription: { topics: string[]; principal: Principal }
        try {
          subscription = await authorizeSubscribe(hubRequest)
        } catch (error) {
          const herald = isHeraldError(error)
            ? error
            : fail('HERALD_UNAUTHORIZED', 401, 'authentication failed')
          return toResponse(errorResponse(herald, corsHeaders(hubRequest)), request.method)
        }
        const mercureUrl = mercureCursorUrl(hubRequest.url)
        const streamRequest = mercureUrl === undefined ? request : new Request(mercureUrl, request)
        const { response, session } = streamServer.handleFetch(streamRequest, { ip: hubRequest.ip })
        if (session !== undefined)
          startSubscription(session, subscription.topics, subscription.principal)
        return response
      }
      const answer =
        (await route(hubRequest)) ??
        errorResponse(fail('HERALD_NOT_FOUND', 404, `no route ${hubRequest.url.pathname}`))
      return toResponse(
        { ...answer, headers: { ...corsHeaders(hubRequest), ...answer.headers } },
        request.method,
      )
    },

    async publish(input) {
      const list = Array.isArray(input) ? input : [input]
      if (list.length === 0) return []
      const events = list.map((e, i) =>
        toAppendInput(e, limits, list.length > 1 ? `events[${i}]: ` : ''),
      )
      await checkSchemas(events)
      return append(events, performance.now())
    },

    ready,

    async drain(drainOptions) {
      await streamServer.drain(drainOptions)
    },

    async close() {
      await streamServer.close()
      stopping.abort()
      if (ownsBroker) await broker.close()
      await pump
      for (const timer of expiryTimers.values()) clearTimeout(timer)
      expiryTimers.clear()
    },
  }
}
