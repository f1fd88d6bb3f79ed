/**
 * The one path from a request to a subscriber session, for every transport (`node:http`,
 * the lean socket path, Fetch): authorize through the stream route, map a refusal to its
 * JSON error (with CORS headers), apply the route's URL rewrite, open the session through
 * `@herald/server`, then watch the token's expiry and attach the session to the fan-out.
 */
import type { Socket } from 'node:net'
import { isHeraldError } from '@herald/protocol'
import type { NodeRequest, NodeResponse, Session, StreamRequest } from '@herald/server'
import type { Principal } from './auth.js'
import type { HubContext } from './context.js'
import { corsHeaders } from './context.js'
import type { HubRequest, HubResponse } from './http-io.js'
import { errorResponse, fail, fromStreamRequest, toResponse, writeNode } from './http-io.js'
import type { MercureSubscription } from './mercure/subscription.js'
import type { Router, StreamRoute, Subscription } from './routes/route.js'
import { hubTracer, SPAN_STATUS_ERROR } from './tracing.js'

/** Accepts event streams. */
export interface StreamAcceptor {
  /** Serves a stream request on `node:http` / `node:http2` compat. */
  node(view: HubRequest, route: StreamRoute, req: NodeRequest, res: NodeResponse): Promise<void>
  /** Serves a stream request as a Fetch `Response`. */
  fetch(view: HubRequest, route: StreamRoute, request: Request): Promise<Response>
  /** The lean HTTP/1.1 socket path (see `Hub.createConnectionHandler`). */
  connectionHandler(fallback: {
    emit(event: 'connection', socket: Socket): boolean
  }): (socket: Socket) => void
  /** A session closed (the stream server's `onClose`): drops its token-expiry timer. */
  closed(session: Session): void
  /** Cancels the token-expiry timers of open sessions. */
  close(): void
}

/** What a stream acceptor hands sessions to. */
export interface StreamAcceptorOptions {
  /** Registers the session with the fan-out and runs its replay. */
  attach(
    session: Session,
    topics: readonly string[],
    principal: Principal,
    mercure: MercureSubscription | undefined,
  ): Promise<void>
  /** The hub's routes. */
  router: Router
  /**
   * Resolves `true` once the node tail knows where it starts in the log (see
   * `NodeTail.whenPositioned`), `false` after `ms`. A stream is accepted only then: before,
   * an event appended after the client saw its stream open could fall before the tail's
   * starting point and never be delivered.
   */
  whenPositioned(ms: number): Promise<boolean>
}

/** How long a stream request waits for the node tail's first read of the log head. */
const POSITION_WAIT_MS = 2000

/** `true` when the request resumes from a cursor (and so reads the log). */
function resumes(view: HubRequest): boolean {
  const params = view.url.searchParams
  return (
    view.header('last-event-id') !== undefined ||
    view.header('mercure-last-event-id') !== undefined ||
    params.has('lastEventId') ||
    params.has('lastEventID')
  )
}

/** Origin of the expiry seconds kept per subscriber (small integers until 2^31 s after it). */
const EXPIRY_BASE = Date.now()

/** Creates the stream acceptor. */
export function createStreamAcceptor(
  ctx: HubContext,
  options: StreamAcceptorOptions,
): StreamAcceptor {
  const { streams, logger } = ctx
  // Sessions whose token expires, with the second it expires in (seconds since EXPIRY_BASE:
  // a small integer, stored in the entry itself), swept once a second while any is watched.
  // One map entry per subscriber instead of a timer with its closure and context (about 250
  // bytes per subscriber with authorization on); a session closes less than two seconds after
  // its token's expiry (never before it) instead of on the millisecond.
  const expiries = new Map<Session, number>()
  let expirySweep: ReturnType<typeof setInterval> | undefined
  function sweepExpiries(): void {
    const now = Math.floor((Date.now() - EXPIRY_BASE) / 1000)
    for (const [session, second] of expiries) {
      if (second > now) continue
      expiries.delete(session)
      session.close('expired')
    }
    if (expiries.size === 0 && expirySweep !== undefined) {
      clearInterval(expirySweep)
      expirySweep = undefined
    }
  }

  /** Authorizes `view`: the subscription, or the error answer to send instead. */
  async function authorize(
    route: StreamRoute,
    view: HubRequest,
  ): Promise<{ subscription: Subscription } | { refusal: HubResponse }> {
    try {
      const subscription = await route.subscribe(view)
      if (!(await options.whenPositioned(POSITION_WAIT_MS))) {
        ctx.metrics.server.increment('requests_rejected_total', 1, {
          code: 'HERALD_STORE_UNAVAILABLE',
        })
        return {
          refusal: errorResponse(
            fail(
              'HERALD_STORE_UNAVAILABLE',
              503,
              'the node has not read the event log yet (the store does not answer); retry',
            ),
            { ...corsHeaders(ctx.cors, view), 'retry-after': '1' },
          ),
        }
      }
      // A resume reads the log: anonymous clients looping `Last-Event-ID: earliest` would
      // otherwise make every one a scan. Counted per client IP, after authorization.
      const limiter = ctx.replayLimiter
      if (limiter !== undefined && resumes(view)) {
        const wait = await limiter.take(`replay:${view.ip}`)
        if (wait > 0) {
          ctx.metrics.server.increment('requests_rejected_total', 1, {
            code: 'HERALD_REPLAY_RATE_LIMITED',
          })
          return {
            refusal: errorResponse(
              fail('HERALD_REPLAY_RATE_LIMITED', 429, 'too many resuming subscriptions; slow down'),
              {
                ...corsHeaders(ctx.cors, view),
                'retry-after': String(Math.max(1, Math.ceil(wait))),
              },
            ),
          }
        }
      }
      return { subscription }
    } catch (error) {
      const herald = isHeraldError(error)
        ? error
        : fail('HERALD_UNAUTHORIZED', 401, 'authentication failed')
      return { refusal: errorResponse(herald, corsHeaders(ctx.cors, view)) }
    }
  }

  function watchExpiry(session: Session, principal: Principal): void {
    if (principal.expiresAt === undefined) return
    const ms = principal.expiresAt - Date.now()
    if (ms <= 0) {
      session.close('expired')
      return
    }
    if (session.closeReason !== undefined) return
    // Forgotten by `closed` (the server's onClose), not an abort listener per session. Rounded
    // up: a token valid until 10.2 s is closed by the first sweep at or past 11 s.
    expiries.set(session, Math.ceil((principal.expiresAt - EXPIRY_BASE) / 1000))
    if (expirySweep === undefined) {
      expirySweep = setInterval(sweepExpiries, 1000)
      expirySweep.unref?.()
    }
  }

  function start(session: Session, subscription: Subscription, route: StreamRoute): void {
    const { topics, principal, mercure } = subscription
    watchExpiry(session, principal)
    if (route.start !== undefined) {
      route.start(session, subscription)
      return
    }
    const span = hubTracer()?.startSpan('herald.subscribe', {
      attributes: {
        'herald.topics': topics,
        'herald.resume': session.lastEventId !== undefined,
      },
    })
    options.attach(session, topics, principal, mercure).then(
      () => span?.end(),
      (error: unknown) => {
        logger.error({ err: error, sessionId: session.id }, 'replay failed')
        span?.recordException(error as Error)
        span?.setStatus({ code: SPAN_STATUS_ERROR })
        span?.end()
      },
    )
  }

  return {
    async node(view, route, req, res) {
      const server = route.server ?? streams
      if (view.method === 'OPTIONS') {
        // A CORS preflight never carries credentials: answer it before any auth check, or
        // every cross-origin reconnect (Last-Event-ID forces a preflight) would fail.
        server.handleNode(req, res, { ip: view.ip })
        return
      }
      // Claim the connection before authorizing: a request pipelined behind this one (parsed
      // from the same packet, handled while this awaits) is refused, never run.
      if (streams.refusePipelined(req, res)) return
      const outcome = await authorize(route, view)
      if ('refusal' in outcome) {
        writeNode(res, outcome.refusal, view.method, req)
        return
      }
      const url = route.rewrite?.(view.url)
      if (url !== undefined) req.url = `${url.pathname}${url.search}`
      const headers = outcome.subscription.mercure?.headers
      const session = server.handleNode(req, res, {
        ip: view.ip,
        ...(headers === undefined ? {} : { headers }),
      })
      if (session !== undefined) start(session, outcome.subscription, route)
    },

    async fetch(view, route, request) {
      const server = route.server ?? streams
      if (view.method === 'OPTIONS') {
        // Preflights carry no credentials: see `node`.
        return server.handleFetch(request, { ip: view.ip }).response
      }
      const outcome = await authorize(route, view)
      if ('refusal' in outcome) return toResponse(outcome.refusal, request.method)
      const url = route.rewrite?.(view.url)
      const headers = outcome.subscription.mercure?.headers
      const { response, session } = server.handleFetch(
        url === undefined ? request : new Request(url, request),
        { ip: view.ip, ...(headers === undefined ? {} : { headers }) },
      )
      if (session !== undefined) start(session, outcome.subscription, route)
      return response
    },

    connectionHandler(fallback) {
      // What authorize learnt, for onSession: keyed by the request object, gone with it.
      const accepted = new WeakMap<
        StreamRequest,
        { subscription: Subscription; route: StreamRoute }
      >()
      const routeOf = (request: StreamRequest): StreamRoute | undefined => {
        if (request.method !== 'GET' && request.method !== 'HEAD') return undefined
        const view = fromStreamRequest(request, ctx.trustProxy)
        const route = options.router.stream(view)
        // A route that rewrites the URL (Mercure's `lastEventID`) or has its own stream
        // server (the dashboard's) needs the node path.
        if (route === undefined || route.server !== undefined) return undefined
        if (route.rewrite?.(view.url) !== undefined) return undefined
        return route
      }
      return streams.createConnectionHandler({
        fallback,
        // Authorized by then: the stream's info keeps no token or cookie for its whole life.
        keepCredentials: false,
        // Behind a trusted proxy the per-IP limit counts the forwarded client, as on the node
        // path: the socket's peer is the proxy, shared by every client.
        ...(ctx.trustProxy
          ? { clientIp: (request: StreamRequest) => fromStreamRequest(request, true).ip }
          : {}),
        match: (request) => routeOf(request) !== undefined,
        async authorize(request) {
          const route = routeOf(request)
          const view = fromStreamRequest(request, ctx.trustProxy)
          if (route === undefined) {
            const answer = errorResponse(fail('HERALD_NOT_FOUND', 404, 'no stream route'))
            // Error answers are JSON text.
            return { status: answer.status, headers: answer.headers, body: String(answer.body) }
          }
          const outcome = await authorize(route, view)
          if ('refusal' in outcome) {
            const { status, headers, body } = outcome.refusal
            return { status, headers, body: String(body) }
          }
          accepted.set(request, { subscription: outcome.subscription, route })
          return undefined
        },
        responseHeaders: (request) => accepted.get(request)?.subscription.mercure?.headers,
        onSession(session, request) {
          const found = accepted.get(request)
          accepted.delete(request)
          if (found === undefined) {
            session.close('error')
            return
          }
          start(session, found.subscription, found.route)
        },
      })
    },

    closed(session) {
      expiries.delete(session)
    },

    close() {
      expiries.clear()
      if (expirySweep !== undefined) clearInterval(expirySweep)
      expirySweep = undefined
    },
  }
}
