/**
 * The Mercure hub at `/.well-known/mercure`: `GET` subscribes with Mercure's selectors
 * (`topic=` URI templates and `*`, `match=`, `match_urlpattern=`), resumes from Mercure update
 * ids (`Last-Event-ID`, `last_event_id`, `lastEventID`) and answers the `Last-Event-ID` /
 * `Mercure-Last-Event-ID` headers; `POST` publishes a form-encoded update (one event for all its
 * topics, its id the SSE id). Herald's own patterns stay on `/events`.
 */
import { canReceivePrivate } from '../auth.js'
import type { HubRequest, HubResponse } from '../http-io.js'
import { errorResponse, fail, json } from '../http-io.js'
import { SUBSCRIPTIONS_PATH } from '../mercure/presence.js'
import { MERCURE_PATH } from '../mercure/reserved.js'
import {
  latestEvent,
  type MercureSubscription,
  requestedCursor,
  resumePoint,
  selectorsOf,
} from '../mercure/subscription.js'
import { createPublishHandler } from './publish.js'
import type { RouteFactory, Subscription } from './route.js'

export { MERCURE_PATH }

/** What a cross-origin client may send to the Mercure endpoint (fetch-based clients resume). */
export const MERCURE_PREFLIGHT = {
  methods: 'GET, POST, OPTIONS',
  headers: 'Authorization, Content-Type, Idempotency-Key, Last-Event-ID, Cache-Control',
} as const

/** Response headers a cross-origin subscriber may read. */
const EXPOSED = 'Last-Event-ID, Mercure-Last-Event-ID'

/** `GET` and `POST /.well-known/mercure`, `GET /.well-known/mercure/subscriptions[/...]`. */
export const mercureRoutes: RouteFactory = (ctx) => {
  const publish = createPublishHandler(ctx)
  const { auth, store } = ctx

  /**
   * The subscriptions API: `/subscriptions`, `/subscriptions/{topic}`,
   * `/subscriptions/{topic}/{subscriber}` (draft-07), readable by a token whose subscribe
   * selectors match the requested path.
   */
  async function subscriptions(req: HubRequest): Promise<HubResponse> {
    const { presence } = ctx
    if (presence === undefined) {
      throw fail(
        'HERALD_NOT_FOUND',
        404,
        'active subscriptions are off on this hub (herald serve --mercure-subscriptions)',
      )
    }
    const path = req.url.pathname
    const principal = await auth.authenticate({ header: (n) => req.header(n), url: req.url })
    if (auth.enabled) {
      if (!principal.authenticated) {
        throw fail('HERALD_UNAUTHORIZED', 401, 'a token with a subscribe claim is required')
      }
      if (!canReceivePrivate(principal, [path, new URL(path, req.url).href])) {
        throw fail('HERALD_FORBIDDEN', 403, `the token does not grant subscribing to ${path}`)
      }
    }
    const raw = path.slice(SUBSCRIPTIONS_PATH.length).split('/').slice(1)
    if (raw.length > 2 || raw.some((s) => s === '')) {
      throw fail('HERALD_NOT_FOUND', 404, `no route ${path}`)
    }
    let parts: string[]
    try {
      parts = raw.map((s) => decodeURIComponent(s))
    } catch {
      throw fail('HERALD_INVALID_REQUEST', 400, `malformed percent-encoding in ${path}`)
    }
    const { subscriptions: all, lastEventId } = await presence.list()
    const headers = {
      'content-type': 'application/ld+json',
      link: `<${new URL(MERCURE_PATH, req.url).href}>; rel="mercure"`,
      'cache-control': 'must-revalidate',
      'access-control-expose-headers': 'Link',
    }
    const [topic, subscriber] = parts
    if (subscriber !== undefined) {
      const one = all.find((s) => s.topic === topic && s.subscriber === subscriber)
      if (one === undefined) {
        return errorResponse(fail('HERALD_NOT_FOUND', 404, `no active subscription ${path}`))
      }
      return json(
        200,
        { '@context': 'https://mercure.rocks/', ...one, lastEventID: lastEventId },
        headers,
      )
    }
    return json(
      200,
      {
        '@context': 'https://mercure.rocks/',
        id: path,
        type: 'Subscriptions',
        lastEventID: lastEventId,
        subscriptions: topic === undefined ? all : all.filter((s) => s.topic === topic),
      },
      headers,
    )
  }

  return {
    routes: [
      {
        path: MERCURE_PATH,
        methods: { POST: (req) => publish(req, 'form') },
        preflight: MERCURE_PREFLIGHT,
      },
      {
        path: SUBSCRIPTIONS_PATH,
        prefix: true,
        methods: { GET: subscriptions },
        preflight: { methods: 'GET, OPTIONS', headers: 'Authorization' },
      },
    ],
    streams: [
      {
        path: MERCURE_PATH,
        async subscribe(req): Promise<Subscription> {
          const base = new URL(MERCURE_PATH, req.url).href
          const selectors = selectorsOf(req.url, base, ctx.maxTopicsPerSubscription)
          const principal = await auth.authenticate({
            header: (name) => req.header(name),
            url: req.url,
          })
          // Selectors only route: what a token grants decides which PRIVATE updates arrive,
          // never whether one may listen (Mercure); the hub may still require a token.
          if (auth.enabled && !principal.authenticated && !auth.anonymousSubscribe) {
            throw fail('HERALD_UNAUTHORIZED', 401, 'a token is required to subscribe')
          }
          const requested = requestedCursor(req.header('last-event-id'), req.url)
          const { cursor, header } = await ctx.timed('resolve', () =>
            resumePoint(store, requested, () => latestEvent(store, ctx.latestDelivered())),
          )
          // Header values are byte strings: a non-ASCII id goes out as its UTF-8 bytes.
          const value = Buffer.from(header, 'utf8').toString('latin1')
          const headers: Record<string, string> = {
            'last-event-id': value,
            'mercure-last-event-id': value,
          }
          if (req.header('origin') !== undefined) headers['access-control-expose-headers'] = EXPOSED
          // A token in the URL must not land in a shared cache.
          if (principal.tokenFrom === 'query') {
            headers['cache-control'] = 'private, no-cache, no-store, no-transform'
          }
          const mercure: MercureSubscription = { selectors, cursor, headers }
          return { topics: selectors.map((s) => s.value), principal, mercure }
        },
      },
    ],
  }
}
