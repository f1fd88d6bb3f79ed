/**
 * Routes: what answers a request. A {@link Route} answers plain requests (JSON in, JSON
 * out) for one path; a {@link StreamRoute} turns a request into a subscription, which the
 * stream acceptor then serves on any transport. Adding a route is one file in `routes/`
 * and one line in `routes/index.ts`.
 */
import { isHeraldError } from '@herald/protocol'
import type { Session, StreamServer } from '@herald/server'
import type { Principal } from '../auth.js'
import type { HubContext } from '../context.js'
import { corsHeaders } from '../context.js'
import type { HubRequest, HubResponse } from '../http-io.js'
import { errorResponse, fail, json } from '../http-io.js'
import type { MercureSubscription } from '../mercure/subscription.js'

/** Answers one method of a route. Throwing a `HeraldError` answers its JSON error. */
export type RouteHandler = (req: HubRequest) => Promise<HubResponse>

/** A plain (non-stream) route. */
export interface Route {
  /** Exact path (`/publish`). */
  readonly path: string
  /** Handlers by method (upper case). `HEAD` falls back to `GET`. */
  readonly methods: Readonly<Record<string, RouteHandler>>
  /**
   * Answer cross-origin preflights (`OPTIONS`) for these methods, with these request
   * headers allowed. Absent: a preflight gets a plain 204 without CORS headers.
   */
  readonly preflight?: { readonly methods: string; readonly headers: string } | undefined
  /** Listed in the `GET /` index (default `true`). */
  readonly listed?: boolean | undefined
  /** Also answer every path below `path/` (Mercure's `/subscriptions/{topic}/...`). */
  readonly prefix?: boolean | undefined
}

/** An authorized subscription. */
export interface Subscription {
  /** Topic patterns, deduplicated. */
  readonly topics: string[]
  /** Who subscribes. */
  readonly principal: Principal
  /** Set on the Mercure endpoint: selectors, resume point, answer headers. */
  readonly mercure?: MercureSubscription | undefined
}

/** A route that serves event streams (`GET`/`HEAD`; preflights go to the stream server). */
export interface StreamRoute {
  /** Exact path (`/events`). */
  readonly path: string
  /** Authorizes the request. @throws {HeraldError} the refusal to answer. */
  subscribe(req: HubRequest): Promise<Subscription>
  /**
   * The URL to hand the stream server instead of the request's, when the route renames a
   * parameter (Mercure's `lastEventID`); `undefined` to keep it.
   */
  rewrite?(url: URL): URL | undefined
  /**
   * The stream server for this route's sessions, instead of the hub's: its sessions are not
   * subscribers and not counted as connections (the dashboard's own streams). Such a route is
   * served on the `node:http` path, never the lean one.
   */
  readonly server?: StreamServer | undefined
  /** Feeds an accepted session instead of attaching it to the fan-out. */
  start?(session: Session, subscription: Subscription): void
}

/** Builds the routes of one feature from the hub's services. */
export type RouteFactory = (ctx: HubContext) => {
  routes?: readonly Route[]
  streams?: readonly StreamRoute[]
  /** The answer to `GET /` for browsers (the dashboard's page). */
  page?: RouteHandler | undefined
}

const NO_ROUTE: Promise<undefined> = Promise.resolve(undefined)

/** A handler's `HeraldError` is its JSON error answer; anything else stays a failure. */
function answerRefusal(error: unknown): HubResponse {
  if (!isHeraldError(error)) throw error
  return errorResponse(error)
}

/** A 405 naming the allowed methods. */
export function notAllowed(allow: string): HubResponse {
  return errorResponse(fail('HERALD_METHOD_NOT_ALLOWED', 405, `use ${allow}`), { allow })
}

/** Dispatches plain requests to their {@link Route}. */
export interface Router {
  /** The answer, or `undefined` when no route has this path. */
  answer(req: HubRequest): Promise<HubResponse | undefined>
  /** The stream route for `req` (a `GET`, `HEAD` or `OPTIONS` on a stream path), if any. */
  stream(req: HubRequest): StreamRoute | undefined
}

/**
 * Creates the router over `routes` and `streams` (a path may have both: Mercure). `GET /`
 * lists every endpoint unless a route claims `/`.
 */
export function createRouter(
  ctx: HubContext,
  routes: readonly Route[],
  streams: readonly StreamRoute[],
  /** Answers `GET /` for browsers (`Accept: text/html`): the dashboard page, when built. */
  page?: RouteHandler | undefined,
): Router {
  const byPath = new Map<string, Route>()
  const endpoints: string[] = []
  for (const route of streams) endpoints.push(`GET ${route.path}`)
  for (const route of routes) {
    if (route.listed === false) continue
    for (const method of Object.keys(route.methods)) endpoints.push(`${method} ${route.path}`)
  }
  const index: Route = {
    path: '/',
    listed: false,
    methods: {
      GET: async (req) =>
        page !== undefined && (req.header('accept') ?? '').includes('text/html')
          ? page(req)
          : json(200, {
              name: 'herald',
              // Mounted at a prefix (Express `app.use('/hub', ...)`): the paths a client uses.
              endpoints:
                req.base === undefined || req.base === ''
                  ? endpoints
                  : endpoints.map((e) => e.replace(' /', ` ${req.base}/`)),
            }),
    },
  }
  for (const route of [...routes, index]) {
    if (route === index && byPath.has('/')) continue
    if (byPath.has(route.path)) throw new Error(`two routes for ${route.path}`)
    byPath.set(route.path, route)
  }
  const prefixed = routes.filter((route) => route.prefix === true)
  const below = (path: string): Route | undefined =>
    prefixed.find((route) => path.startsWith(`${route.path}/`))
  const streamByPath = new Map<string, StreamRoute>()
  for (const route of streams) streamByPath.set(route.path, route)

  /** `answer` with the CORS headers of `req` (as is without CORS). */
  function withCors(answer: HubResponse, req: HubRequest): HubResponse {
    if (ctx.cors === undefined) return answer
    const cors = corsHeaders(ctx.cors, req)
    const headers = { ...cors, ...answer.headers }
    // Both vary (a blob's Accept-Encoding, CORS's Origin): a cache must key on each.
    if (cors.vary !== undefined && answer.headers.vary !== undefined) {
      headers.vary = `${answer.headers.vary}, ${cors.vary}`
    }
    return { ...answer, headers }
  }

  return {
    stream(req) {
      const route = streamByPath.get(req.path)
      if (route === undefined) return undefined
      const { method } = req
      if (method === 'GET' || method === 'HEAD') return route
      // A path with a plain route too (Mercure's POST): other methods and preflights go there.
      // Otherwise the stream server answers them (405, or the stream preflight).
      return byPath.has(route.path) ? undefined : route
    },
    answer(req) {
      // Not an async function: a publish costs one continuation here (errors and CORS), not an
      // async frame and an await per request. Anything thrown becomes the promise's rejection.
      try {
        const route = byPath.get(req.path) ?? below(req.path)
        if (route === undefined) return NO_ROUTE
        const { method } = req
        if (method === 'OPTIONS') {
          const headers = corsHeaders(ctx.cors, req)
          if (
            route.preflight !== undefined &&
            headers['access-control-allow-origin'] !== undefined
          ) {
            headers['access-control-allow-methods'] = route.preflight.methods
            headers['access-control-allow-headers'] = route.preflight.headers
            headers['access-control-max-age'] = String(ctx.cors?.maxAgeSeconds ?? 600)
          }
          return Promise.resolve({ status: 204, headers, body: '' })
        }
        const handler = route.methods[method] ?? (method === 'HEAD' ? route.methods.GET : undefined)
        if (handler === undefined) {
          const allow = Object.keys(route.methods)
          if (streamByPath.has(route.path)) allow.unshift('GET')
          return Promise.resolve(withCors(notAllowed(allow.join(', ')), req))
        }
        let pending: Promise<HubResponse>
        try {
          pending = handler(req)
        } catch (error) {
          // Thrown before its promise: answered as a rejection would be.
          pending = Promise.reject(error)
        }
        const answered = pending.then(undefined, answerRefusal)
        return ctx.cors === undefined ? answered : answered.then((answer) => withCors(answer, req))
      } catch (error) {
        return Promise.reject(error)
      }
    },
  }
}
