/**
 * `createHub`: topics, publish, exact replay, auth and metrics over HTTP, on top of
 * `@herald/server`. The hub is a library: mount `hub.handleNode` in `node:http`, Express
 * or Fastify, or return `hub.fetch(request)` from Hono, Bun, Deno or a route handler.
 *
 * This file only wires: options are validated here, then the parts do the work: `routes/`
 * answer requests, `accept-stream.ts` turns stream requests into sessions, `fan-out.ts`
 * holds the subscribers, `node-tail.ts` feeds it, `append.ts` writes.
 */

import type { Socket } from 'node:net'
import { HeraldError, isHeraldError } from '@herald/protocol'
import type {
  CorsOptions,
  DrainOptions,
  Logger,
  NodeRequest,
  NodeResponse,
  StreamServer,
  StreamServerOptions,
} from '@herald/server'
import { createStreamServer } from '@herald/server'
import type { AppendInput, EventStore, StoredEvent } from '@herald/store'
import { createMemorySchemaStore } from '@herald/store'
import { createStreamAcceptor, type StreamAcceptor } from './accept-stream.js'
import { createAdminGate } from './admin.js'
import { createAdmission } from './admission.js'
import { createAppender } from './append.js'
import type { AuthOptions } from './auth.js'
import { createAuthenticator } from './auth.js'
import type { BlobOptions } from './blobs.js'
import { createBlobService } from './blobs.js'
import { createConflation } from './conflation.js'
import type { HubContext, Readiness } from './context.js'
import { corsHeaders } from './context.js'
import type { ClientsPage, ClientsQuery, DashboardAssets } from './dashboard-api.js'
import { createTails, listClients } from './dashboard-api.js'
import type { DashboardPeers } from './dashboard-peers.js'
import type { FanOut } from './fan-out.js'
import { createFanOut } from './fan-out.js'
import type { HubRequest, HubResponse } from './http-io.js'
import {
  createBatchedNodeWriter,
  errorResponse,
  fail,
  fromFetch,
  fromNode,
  toResponse,
  writeNode,
} from './http-io.js'
import type { IdempotencyCache, IdempotencyOptions } from './idempotency.js'
import { createIdempotencyCache } from './idempotency.js'
import { createLeanPublish } from './lean-publish.js'
import { createPresence } from './mercure/presence.js'
import type { HubMetrics } from './metrics.js'
import { createHubMetrics } from './metrics.js'
import { startNodeTail } from './node-tail.js'
import { createPublishLog, PUBLISH_SUMMARY_INTERVAL_MS } from './publish-log.js'
import type { PublishLimits } from './publish-request.js'
import { toAppendInput } from './publish-request.js'
import type { RateLimiter, RateLimitOptions } from './rate-limit.js'
import { createRateLimiter } from './rate-limit.js'
import { ROUTES } from './routes/index.js'
import type { Route, RouteHandler, StreamRoute } from './routes/route.js'
import { createRouter } from './routes/route.js'
import type { TopicSchema } from './schema.js'
import { createSchemaCheck } from './schema.js'
import { createSchemaRegistry } from './schema-registry/registry.js'
import { createHubStats } from './stats.js'

/** Stream options passed through to `@herald/server` (the hub wires logger, metrics and hooks). */
export type HubStreamOptions = Omit<
  StreamServerOptions,
  'logger' | 'metrics' | 'onOpen' | 'onClose' | 'cors' | 'proxied'
>

/** Options of {@link createHub}. */
export interface HubOptions {
  /** The event log. */
  store: EventStore
  /** JWT authentication. Default: off (anyone may publish and subscribe; development only). */
  auth?: AuthOptions | undefined
  /** Binary publishes (`POST /publish?topic=T` with a binary body) and `GET /blobs/{id}`. */
  blobs?: BlobOptions | undefined
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
  /**
   * Publish requests per second per token (or IP without a token); `false` disables. Default
   * 1000/s, burst 2000. A {@link RateLimiter} instead (for example one shared by every node
   * through Redis, `@herald/store-redis`) is used as given.
   */
  publishRateLimit?: RateLimitOptions | RateLimiter | false | undefined
  /**
   * Resuming subscriptions (a `Last-Event-ID` or `lastEventId` cursor: each one reads the log)
   * per second per client IP; beyond it 429 `HERALD_REPLAY_RATE_LIMITED` with `Retry-After`.
   * `false` disables. Default 20/s, burst 200 (generous: many clients behind one NAT resume
   * together after a deploy).
   */
  replayRateLimit?: RateLimitOptions | RateLimiter | false | undefined
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
  /**
   * How often the `info` summary of publishes (`publishes`: requests, events, bytes, refusals,
   * busiest topics) is logged while publishes arrive, in ms. Each publish request also gets a
   * `debug` line (`published`). Default 10 000.
   */
  publishSummaryIntervalMs?: number | undefined
  /** Add prom-client's process metrics to `/metrics`. Default `false`. */
  processMetrics?: boolean | undefined
  /** Events per replay read. Default 500. */
  replayPageSize?: number | undefined
  /** Most `topic` parameters in one subscription. Default 100. */
  maxTopicsPerSubscription?: number | undefined
  /** Most wildcard patterns (`orders/*`) among them. Default 32. */
  maxPatternsPerSubscription?: number | undefined
  /** Data schemas per topic pattern (Standard Schema: zod, valibot, ...); 400 on mismatch. */
  schemas?: readonly TopicSchema[] | undefined
  /**
   * How long and how many `Idempotency-Key`s of publish requests are remembered, in memory; or
   * an {@link IdempotencyCache} to use as given (one shared by every node, `@herald/store-redis`).
   */
  idempotency?: IdempotencyOptions | IdempotencyCache<HubResponse> | undefined
  /**
   * A shared secret (at least 16 characters) that grants the admin views: the dashboard's
   * private parts, its API and `/metrics`, sent as `Authorization: Bearer`. With it, or with
   * auth on, those need the admin grant (this token, or a JWT with `herald.admin`).
   */
  adminToken?: string | undefined
  /** The dashboard's built files (`herald serve` ships them); without them `/` answers JSON. */
  dashboard?: DashboardAssets | undefined
  /**
   * Produces the `/metrics` body instead of this hub's own registry: `herald serve
   * --workers` answers the sum over every worker (prom-client's cluster aggregator).
   */
  metricsText?: (() => Promise<string>) | undefined
  /** This node's name in the dashboard. Default `host:pid`. */
  nodeName?: string | undefined
  /**
   * The hub's other processes, for the dashboard: its figures and clients table then span
   * them all (`herald serve --workers` passes one backed by the cluster's IPC channel).
   */
  dashboardPeers?: DashboardPeers | undefined
  /** The Mercure endpoint (`/.well-known/mercure`). */
  mercure?: MercureOptions | undefined
  /**
   * Also answer plain `POST /publish` requests on the lean HTTP/1.1 path
   * ({@link Hub.createConnectionHandler}), without node:http's per-request objects: the same
   * route, auth, limits and answers (with `trustProxy`, the same forwarded IP and scheme);
   * anything unusual on a connection (chunked bodies, `Expect`, another path, a malformed
   * head) is handed to node:http. Only connections given to `createConnectionHandler` are
   * concerned. Default `true`.
   */
  leanPublish?: boolean | undefined
  /**
   * Publish admission: while this node's delivery lag (the age of the oldest event in the log
   * it has not yet handed to its subscribers' queues, or of the oldest frame waiting in a
   * queue for its write) is above this many ms, `POST /publish` and the
   * Mercure publish answer 503 `HERALD_DELIVERY_LAGGING` with `Retry-After` and append
   * nothing. `hub.publish` is not refused. Default: off (the lag is still measured, in
   * `herald_delivery_lag_seconds`).
   */
  maxDeliveryLagMs?: number | undefined
  /**
   * Topic patterns whose superseded events are conflated: when the node's tail hands over
   * several events at once (delivery is behind), an event followed in the same batch by a
   * newer one with the same topic, type and `private` flag is not written to live
   * subscribers (counted in `herald_events_conflated_total`); the log and replays keep every
   * event. With conflation on, the node's tail reads again only once the previous batch has
   * been written to every subscriber, so that a batch spans what arrived meanwhile.
   * Default: none.
   */
  conflate?: readonly string[] | undefined
}

/** Options of the Mercure endpoint. */
export interface MercureOptions {
  /**
   * Active subscriptions: publish a private update when a Mercure subscription starts or ends
   * (topic `/.well-known/mercure/subscriptions/{topic}/{subscriber}`) and serve the
   * subscriptions API. One append per subscription change. Default `false`.
   */
  subscriptions?: boolean | undefined
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
  /** `true` when the hub can serve: not draining, the store answers and the node reads the log. */
  ready(): Promise<boolean>
  /** The metrics registry (prom-client), also served at `/metrics`. */
  readonly metrics: HubMetrics
  /** The underlying stream server. */
  readonly streams: StreamServer
  /** Open subscriptions on this node. */
  readonly subscribers: number
  /**
   * One page of this process's subscribers, searched (the dashboard's clients table; with
   * `dashboardPeers` the page the dashboard shows is cut from every process's answer).
   */
  listClients(query: ClientsQuery): ClientsPage
  /** Stops accepting streams (503) and closes the open ones in jittered waves. */
  drain(options?: DrainOptions): Promise<void>
  /** Closes every stream and stops the node's log reader. The store is left to its owner. */
  close(): Promise<void>
}

const MiB = 1024 * 1024
/** Events per read of the node's tail (a full page means the tail is behind the log). */
const TAIL_PAGE_SIZE = 1000
/** Room for frame overhead (`id:`, `event:`, `data:` lines) on top of two largest events. */
const QUEUE_HEADROOM_BYTES = 64 * 1024
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
  const auth = createAuthenticator(options.auth)
  const configured = createSchemaCheck(options.schemas ?? [])
  // The registry lives in the store's backend when it has one (every node agrees).
  const registry = createSchemaRegistry(store.schemas ?? createMemorySchemaStore())
  // Without configured schemas, the registry's check alone (no wrapping promise per publish,
  // and none at all when the store reads its schema revision synchronously and it has not moved).
  const checkSchemas =
    (options.schemas ?? []).length === 0
      ? (events: readonly AppendInput[]): Promise<void> | undefined =>
          registry.validateNow(events) ? undefined : registry.validate(events)
      : async (events: readonly AppendInput[]): Promise<void> => {
          await configured(events)
          await registry.validate(events)
        }
  const maxTopics = positive('maxTopicsPerSubscription', options.maxTopicsPerSubscription, 100)
  const maxPatterns = positive('maxPatternsPerSubscription', options.maxPatternsPerSubscription, 32)
  let limiter: RateLimiter | undefined
  try {
    limiter =
      options.publishRateLimit === false
        ? undefined
        : options.publishRateLimit !== undefined && 'take' in options.publishRateLimit
          ? options.publishRateLimit
          : createRateLimiter(options.publishRateLimit ?? { rate: 1000, burst: 2000 })
  } catch (error) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `publishRateLimit: ${(error as Error).message}`)
  }
  let replayLimiter: RateLimiter | undefined
  try {
    replayLimiter =
      options.replayRateLimit === false
        ? undefined
        : options.replayRateLimit !== undefined && 'take' in options.replayRateLimit
          ? options.replayRateLimit
          : createRateLimiter(options.replayRateLimit ?? { rate: 20, burst: 200 })
  } catch (error) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `replayRateLimit: ${(error as Error).message}`)
  }
  if (!auth.enabled) {
    logger.warn({}, 'no JWT key configured: anyone who can reach the hub may publish')
  }
  const publishStartedAt = new Map<string, number>()
  const maxDeliveryLagMs = options.maxDeliveryLagMs
  if (
    maxDeliveryLagMs !== undefined &&
    (!Number.isFinite(maxDeliveryLagMs) || maxDeliveryLagMs <= 0)
  ) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `maxDeliveryLagMs must be a positive number, got ${maxDeliveryLagMs}`,
    )
  }
  // Late-bound: the stream server needs the metrics, the metrics read the stream server (and
  // the admission, which reads the stream server's write lag).
  let lateStreams: StreamServer | undefined
  const admission = createAdmission({
    maxLagMs: maxDeliveryLagMs,
    pageSize: TAIL_PAGE_SIZE,
    compare: store.cursors.compare,
    writeLagMs: () => lateStreams?.writeLagMs ?? 0,
    writeDelayMs: (frames) => lateStreams?.writeDelayMsWith(frames) ?? 0,
  })
  let conflation: ReturnType<typeof createConflation>
  try {
    conflation = createConflation(options.conflate ?? [])
  } catch (error) {
    throw new HeraldError('HERALD_INVALID_CONFIG', `conflate: ${(error as Error).message}`)
  }

  let lateFanOut: FanOut | undefined
  let lateAcceptor: StreamAcceptor | undefined
  const metrics = createHubMetrics(
    {
      connections: () => lateStreams?.size ?? 0,
      subscribersByTopic: () => lateFanOut?.countByTopic() ?? new Map(),
      deliveryLagMs: () => admission.lagMs(),
    },
    options.processMetrics === true,
  )
  // One publish must never cut a subscriber off: the per-session queue holds at least two of
  // the largest events plus headroom, and replay waits for room between frames.
  const minQueueBytes = 2 * maxPayloadBytes + QUEUE_HEADROOM_BYTES
  const maxQueueBytes = options.stream?.maxQueueBytes ?? Math.max(8 * MiB, 4 * maxPayloadBytes)
  if (maxQueueBytes < minQueueBytes) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `stream.maxQueueBytes (${maxQueueBytes}) must be at least 2 x maxPayloadBytes + ${QUEUE_HEADROOM_BYTES} (${minQueueBytes}): a subscriber's queue must hold the largest event`,
    )
  }
  const cors = options.cors
  const streams = createStreamServer({
    ...options.stream,
    maxQueueBytes,
    ...(cors === undefined ? {} : { cors }),
    // Behind a trusted proxy every socket has the proxy's address: per-IP limits key on streams.
    proxied: options.trustProxy === true,
    logger,
    metrics: metrics.server,
    // One hook for every close: the fan-out and the expiry timers forget the session here
    // rather than through an abort listener (an AbortController) per subscriber.
    onClose(session) {
      lateFanOut?.detach(session)
      lateAcceptor?.closed(session)
    },
  })
  lateStreams = streams
  const fanOut = createFanOut({
    store,
    metrics,
    replayPageSize: positive('replayPageSize', options.replayPageSize, 500),
    maxReplayBuffer: 50_000,
    replayHighWaterBytes: Math.floor(maxQueueBytes / 2),
    publishStartedAt,
    conflation,
  })
  lateFanOut = fanOut

  async function timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      return await fn()
    } finally {
      metrics.storeLatency.observe({ op }, (performance.now() - started) / 1000)
    }
  }

  async function readiness(): Promise<Readiness> {
    if (streams.draining) {
      return { ok: false, code: 'HERALD_DRAINING', message: 'the hub is draining' }
    }
    let reason: string
    try {
      const health = await Promise.race([
        timed('health', () => store.health()),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('no answer within 2 s')), 2000).unref?.(),
        ),
      ])
      if (health.ok && tail.healthy && tail.positioned) return { ok: true }
      reason = !health.ok
        ? health.reason
        : tail.positioned
          ? 'the node cannot read the log'
          : 'the node has not found its place in the log yet'
    } catch (error) {
      reason = (error as Error).message
    }
    return {
      ok: false,
      code: 'HERALD_STORE_UNAVAILABLE',
      message: `the event store is not available: ${reason}`,
    }
  }

  const admin = createAdminGate(auth, options.adminToken)
  const stats = createHubStats({
    registry: metrics.registry,
    node: options.nodeName,
    connections: () => streams.size,
    subscribers: () => fanOut.size,
    countByTopic: () => fanOut.countByTopic(),
    health: () => store.health(),
    peers: options.dashboardPeers,
  })
  const tails = createTails()
  // The dashboard's own streams: not subscribers, not counted as connections.
  const dashboardStreams = createStreamServer({
    heartbeatMs: options.stream?.heartbeatMs ?? 15_000,
    logger,
  })
  const append: HubContext['append'] = createAppender({
    store,
    metrics,
    publishStartedAt,
    onAppended: (stored) => admission.appended(stored),
    revalidate: checkSchemas,
  })
  const presence =
    options.mercure?.subscriptions === true ? createPresence({ store, logger, append }) : undefined
  const blobs = createBlobService(store, options.blobs ?? {}, logger)
  const publishLog = createPublishLog(
    logger,
    positive(
      'publishSummaryIntervalMs',
      options.publishSummaryIntervalMs,
      PUBLISH_SUMMARY_INTERVAL_MS,
    ),
  )
  const ctx: HubContext = {
    store,
    auth,
    metrics,
    logger,
    publishLog,
    streams,
    cors,
    limits,
    maxBodyBytes,
    bodyTimeoutMs,
    maxTopicsPerSubscription: maxTopics,
    maxPatternsPerSubscription: maxPatterns,
    trustProxy: options.trustProxy === true,
    limiter,
    replayLimiter,
    idempotency:
      options.idempotency !== undefined && 'run' in options.idempotency
        ? options.idempotency
        : createIdempotencyCache<HubResponse>(options.idempotency),
    checkSchemas,
    blobs,
    schemas: registry,
    admin,
    metricsText: options.metricsText ?? (() => metrics.registry.metrics()),
    dashboard: {
      stats,
      tails,
      streams: dashboardStreams,
      assets: options.dashboard,
      clients: () => fanOut.clients(),
      clientCount: () => fanOut.size,
      peers: options.dashboardPeers,
    },
    append,
    admission,
    presence,
    readiness,
    timed,
    latestDelivered: () => fanOut.latest,
  }
  const routes: Route[] = []
  const streamRoutes: StreamRoute[] = []
  let page: RouteHandler | undefined
  for (const factory of ROUTES) {
    const made = factory(ctx)
    routes.push(...(made.routes ?? []))
    streamRoutes.push(...(made.streams ?? []))
    page ??= made.page
  }
  const router = createRouter(ctx, routes, streamRoutes, page)
  const acceptor = createStreamAcceptor(ctx, {
    router,
    whenPositioned: (ms) => tail.whenPositioned(ms),
    attach(session, topics, principal, mercure) {
      if (mercure !== undefined) presence?.join(session, mercure, principal)
      return fanOut.attach(session, topics, principal, mercure)
    },
  })
  lateAcceptor = acceptor
  let handedBefore = 0
  const tail = startNodeTail({
    store,
    fanOut,
    streams,
    logger,
    pageSize: TAIL_PAGE_SIZE,
    // Conflation works on what one read returns: while the subscribers' writes are behind
    // (a pass over them takes longer than events arrive), the next read waits for them, so
    // that it spans every event appended meanwhile and a superseded one is never written.
    beforeRead: conflation === undefined ? undefined : () => streams.flushed(),
    onBatch(batch) {
      // What the batch put in subscribers' queues (the fan-out ran just before).
      const handed = fanOut.handed
      admission.dispatched(batch, handed - handedBefore)
      handedBefore = handed
      stats.observe(batch)
      tails.dispatch(batch)
    },
  })

  const notFound = (req: HubRequest): HubResponse =>
    errorResponse(fail('HERALD_NOT_FOUND', 404, `no route ${req.path}`), corsHeaders(cors, req))

  const answerNode = createBatchedNodeWriter()
  const leanPublish =
    options.leanPublish !== false
      ? createLeanPublish({
          answer: (req) => router.answer(req),
          maxBodyBytes,
          bodyTimeoutMs,
          trustProxy: ctx.trustProxy,
          logger,
        })
      : undefined

  async function handleNodeAsync(
    req: NodeRequest,
    res: NodeResponse,
    next: ((error?: unknown) => void) | undefined,
  ): Promise<void> {
    // A publish pipelined behind a stream would be stored and never answered.
    if (streams.refusePipelined(req)) return
    let view: HubRequest
    try {
      view = fromNode(req, ctx.trustProxy)
    } catch (error) {
      if (!isHeraldError(error)) throw error
      writeNode(res, errorResponse(error), req.method ?? 'GET', req)
      return
    }
    const stream = router.stream(view)
    if (stream !== undefined) return acceptor.node(view, stream, req, res)
    const answer = await router.answer(view)
    if (answer === undefined && next !== undefined) {
      next()
      return
    }
    answerNode(res, answer ?? notFound(view), view.method, req)
  }

  return {
    get metrics() {
      return metrics
    },
    get streams() {
      return streams
    },
    get subscribers() {
      return fanOut.size
    },

    listClients(query) {
      return listClients(fanOut.clients(), fanOut.size, query)
    },

    handleNode(req, res, next) {
      handleNodeAsync(req, res, next).catch((error: unknown) => {
        logger.error({ err: error }, 'request failed')
        if (!res.headersSent) {
          writeNode(
            res,
            errorResponse(new HeraldError('HERALD_INTERNAL', 'internal error', { status: 500 })),
            'GET',
          )
        } else req.destroy()
      })
    },

    createConnectionHandler(fallback) {
      return acceptor.connectionHandler(
        leanPublish === undefined ? fallback : leanPublish.wrap(fallback),
      )
    },

    async fetch(request, init) {
      const view = fromFetch(request, init?.ip ?? '')
      const stream = router.stream(view)
      if (stream !== undefined) return acceptor.fetch(view, stream, request)
      return toResponse((await router.answer(view)) ?? notFound(view), request.method)
    },

    async publish(input) {
      const list = Array.isArray(input) ? input : [input]
      if (list.length === 0) return []
      const events = list.map((e, i) =>
        toAppendInput(e, limits, list.length > 1 ? `events[${i}]: ` : ''),
      )
      await checkSchemas(events)
      return ctx.append(events, performance.now())
    },

    async ready() {
      return (await readiness()).ok
    },

    async drain(drainOptions) {
      await Promise.all([streams.drain(drainOptions), dashboardStreams.drain(drainOptions)])
    },

    async close() {
      stats.close()
      blobs?.close()
      await Promise.all([streams.close(), dashboardStreams.close()])
      // Closed Mercure subscriptions publish their end: written before the store goes.
      await presence?.flush()
      publishLog.flush()
      await tail.stop()
      acceptor.close()
      leanPublish?.close()
      admission.close()
    },
  }
}
