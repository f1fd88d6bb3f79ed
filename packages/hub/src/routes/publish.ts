/**
 * `POST /publish`: JSON events (one or an array) in, their ids out. Also the publish
 * pipeline Mercure's form POST shares: authentication, the cookie origin check, the rate
 * limit, body limits, grants, idempotency, schemas, the append.
 */
import { HeraldError, isHeraldError } from '@herald/protocol'
import type { AppendInput, BlobInput, StoredEvent } from '@herald/store'
import type { Span } from '@opentelemetry/api'
import type { Principal } from '../auth.js'
import { ANONYMOUS, canPublish } from '../auth.js'
import type { HubContext } from '../context.js'
import type { HubRequest, HubResponse } from '../http-io.js'
import { decodeUtf8, errorResponse, fail, json, originAllowed } from '../http-io.js'
import { parseFormPublish, parseJsonPublish } from '../publish-request.js'
import { hubTracer, SPAN_STATUS_ERROR } from '../tracing.js'
import type { RouteFactory } from './route.js'

/** The request headers a cross-origin publish may send. */
export const PUBLISH_PREFLIGHT = {
  methods: 'POST, OPTIONS',
  headers: 'Authorization, Content-Type, Idempotency-Key',
} as const

const JSON_TYPE = 'application/json; charset=utf-8'
/**
 * The headers of a plain JSON answer, one object for all of them: read-only (frozen), so the
 * lean path encodes them once for a run of publishes (lean-publish.ts).
 */
const JSON_HEADERS: Record<string, string> = Object.freeze({ 'content-type': JSON_TYPE })
const PLAIN_ID = /^[\w:.-]*$/

/** The media type of a Content-Type header, lower case (`application/json`). */
function mediaType(header: string | undefined): string {
  if (header === undefined) return ''
  if (header === 'application/json') return header
  return (header.split(';')[0] ?? '').trim().toLowerCase()
}

/** A parsed publish: its events, whether the body was an array, the blob of a binary one. */
interface Parsed {
  events: AppendInput[]
  batch: boolean
  blob?: BlobInput | undefined
}

/** How a publish request body is read and answered. */
export type PublishFlavour = 'json' | 'form'

/**
 * Creates the publish pipeline: `(req, flavour)` reads, checks and appends the request's
 * events and answers JSON ids (`json`) or Mercure's plain-text id (`form`).
 */
export function createPublishHandler(
  ctx: HubContext,
): (req: HubRequest, flavour: PublishFlavour) => Promise<HubResponse> {
  const { auth, limits, metrics, logger, publishLog } = ctx

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
      (origin === req.url.origin || (ctx.cors !== undefined && originAllowed(ctx.cors, origin)))
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

  /** Parses and authorizes a publish body. Throws `HeraldError`s. */
  function parsePublish(text: string, isJson: boolean, principal: Principal): Parsed {
    let events: AppendInput[]
    let batch = false
    if (isJson) {
      const parsed = parseJsonPublish(text, limits)
      events = parsed.events
      batch = parsed.batch
    } else {
      events = parseFormPublish(text, limits)
    }
    authorize(events, principal)
    return { events, batch }
  }

  function forbidden(topic: string): never {
    throw fail(
      'HERALD_FORBIDDEN',
      403,
      `the token does not grant publishing to ${JSON.stringify(topic)}`,
    )
  }

  /** Throws 403 unless `principal` may publish every event. */
  function authorize(events: readonly AppendInput[], principal: Principal): void {
    if (auth.enabled) {
      // Every topic of an event, alternates included: an update reaches subscribers of each.
      for (const event of events) {
        if (!canPublish(principal, event.topic)) forbidden(event.topic)
        if (event.alternates === undefined) continue
        for (const topic of event.alternates) if (!canPublish(principal, topic)) forbidden(topic)
      }
    }
  }

  /**
   * Appends parsed, authorized events whose schemas were checked (the blob first, if any).
   * Throws `HeraldError`s.
   */
  function store(
    { events, blob }: Parsed,
    started: number,
    span: Span | undefined,
  ): Promise<StoredEvent[]> {
    span?.setAttribute('herald.events', events.length)
    const [first] = events
    // A blob is put before its event is appended and deleted if the append fails (blobs.ts).
    return blob !== undefined && ctx.blobs !== undefined && first !== undefined
      ? ctx.blobs.publish(blob, first, (list) => ctx.append(list, started))
      : ctx.append(events, started)
  }

  /** The answer to a publish whose events were stored. */
  function answerOf(
    { events, batch, blob }: Parsed,
    flavour: PublishFlavour,
    stored: readonly StoredEvent[],
  ): HubResponse {
    const ids = stored.map((e) => e.id)
    // A debug line per publish request, an info summary per interval (publish-log.ts).
    publishLog.published(events, ids, flavour, blob?.bytes.length ?? 0)
    if (flavour === 'form') {
      // Mercure answers the update id (the publisher's, or the generated IRI), not the cursor.
      return {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: stored[0]?.clientId ?? ids[0] ?? '',
      }
    }
    if (!batch && ids.length === 1) {
      // The common single event: ids are cursor strings ([0-9a-z:-] only, no escaping), so
      // the answer is written without a JSON.stringify of a two-field object.
      const id = ids[0] as string
      if (PLAIN_ID.test(id)) {
        return { status: 200, headers: JSON_HEADERS, body: `{"id":"${id}","ids":["${id}"]}` }
      }
    }
    return json(200, batch ? { ids } : { id: ids[0], ids })
  }

  /** Validates and appends parsed, authorized events; their answer. Throws `HeraldError`s. */
  async function accept(
    parsed: Parsed,
    flavour: PublishFlavour,
    started: number,
    span: Span | undefined,
  ): Promise<HubResponse> {
    // Checked at once when nothing has to be read first (no promise to wait for).
    const checking = ctx.checkSchemas(parsed.events)
    if (checking !== undefined) await checking
    return answerOf(parsed, flavour, await store(parsed, started, span))
  }

  return async function handlePublish(req, flavour) {
    const started = performance.now()
    const span = hubTracer()?.startSpan('herald.publish')
    try {
      // Auth off, or a token the cache holds: no promise to wait for (every await is a trip
      // through the microtask queue).
      const principal = auth.enabled
        ? (auth.authenticateNow?.(req) ?? (await auth.authenticate(req)))
        : ANONYMOUS
      if (auth.enabled && !principal.authenticated) {
        throw fail(
          'HERALD_UNAUTHORIZED',
          401,
          'a token with a publish claim is required to publish',
        )
      }
      if (principal.tokenFrom === 'cookie') assertPublishOrigin(req)
      if (ctx.limiter !== undefined) {
        const taken = ctx.limiter.take(principal.token ?? `ip:${req.ip}`)
        const wait = typeof taken === 'number' ? taken : await taken
        if (wait > 0) {
          const error = fail(
            'HERALD_PUBLISH_RATE_LIMITED',
            429,
            'too many publish requests; slow down',
          )
          metrics.publishErrors.inc({ code: error.code })
          publishLog.refused(error.code)
          return errorResponse(error, { 'retry-after': String(Math.max(1, Math.ceil(wait))) })
        }
      }
      // Delivery is behind past the bound: push back before reading the body (nothing is
      // appended; the publisher knows and retries).
      const refusal = ctx.admission.check()
      if (refusal !== undefined) {
        const error = fail(
          'HERALD_DELIVERY_LAGGING',
          503,
          `delivery on this node is ${(refusal.projectedMs / 1000).toFixed(1)} s behind (bound ${ctx.admission.maxLagMs} ms); retry later`,
        )
        metrics.publishErrors.inc({ code: error.code })
        publishLog.refused(error.code)
        return errorResponse(error, { 'retry-after': String(refusal.retryAfterS) })
      }
      const type = mediaType(req.header('content-type'))
      const isJson = type === 'application/json' || type.endsWith('+json')
      const isForm = type === 'application/x-www-form-urlencoded'
      // Any other type with `?topic=` is a binary publish: the body becomes a blob (blobs.ts).
      const blobs =
        !isJson && !isForm && flavour === 'json' && req.url.searchParams.has('topic')
          ? ctx.blobs
          : undefined
      if (!isJson && !isForm && blobs === undefined) {
        throw fail(
          'HERALD_UNSUPPORTED_MEDIA_TYPE',
          415,
          ctx.blobs === undefined || flavour !== 'json'
            ? 'publish with Content-Type application/json (or application/x-www-form-urlencoded)'
            : 'publish with Content-Type application/json (or application/x-www-form-urlencoded), or a binary body with ?topic=T',
        )
      }
      const limit = blobs?.maxBytes ?? ctx.maxBodyBytes
      const length = Number(req.header('content-length') ?? 0)
      if (length > limit) {
        throw fail('HERALD_PAYLOAD_TOO_LARGE', 413, `request body larger than ${limit} bytes`)
      }
      // A body already in (the lean path reads it before the route) is taken without a promise.
      const body = req.bodyNow?.(limit) ?? (await req.body(limit, ctx.bodyTimeoutMs))
      let parsed: Parsed
      let text: string
      if (blobs !== undefined) {
        const contentType = (req.header('content-type') ?? '').trim() || 'application/octet-stream'
        if (contentType.length > 256) {
          throw fail('HERALD_INVALID_PUBLISH', 400, 'Content-Type longer than 256 characters')
        }
        const prepared = blobs.prepare(req.url.searchParams, contentType, body)
        parsed = { events: [prepared.event], batch: false, blob: prepared.blob }
        text = prepared.fingerprint
        authorize(parsed.events, principal)
      } else {
        text = decodeUtf8(body)
        // Grants are checked before the idempotency cache: a remembered answer is never handed
        // to a caller who may not publish what it was for.
        parsed = parsePublish(text, isJson, principal)
      }
      const key = req.header('idempotency-key')
      if (key === undefined) {
        // accept()'s steps inline: one async frame and one await less per publish.
        const checking = ctx.checkSchemas(parsed.events)
        if (checking !== undefined) await checking
        return answerOf(parsed, flavour, await store(parsed, started, span))
      }
      if (key.length === 0 || key.length > 255) {
        throw fail('HERALD_INVALID_PUBLISH', 400, 'Idempotency-Key must be 1 to 255 characters')
      }
      // Keys are scoped to the caller: another publisher's key never collides with yours.
      const scope = principal.subject ?? principal.token ?? `ip:${req.ip}`
      const { answer, replayed } = await ctx.idempotency.run(
        `${scope}\u0000${flavour}\u0000${key}`,
        text,
        () => accept(parsed, flavour, started, span),
      )
      span?.setAttribute('herald.idempotent_replay', replayed)
      return replayed
        ? { ...answer, headers: { ...answer.headers, 'idempotent-replayed': 'true' } }
        : answer
    } catch (error) {
      const herald = isHeraldError(error)
        ? error
        : new HeraldError('HERALD_INTERNAL', 'publish failed: internal error', {
            status: 500,
            cause: error,
          })
      if (!isHeraldError(error)) logger.error({ err: error }, 'publish failed')
      metrics.publishErrors.inc({ code: herald.code })
      publishLog.refused(herald.code)
      span?.recordException(herald)
      span?.setStatus({ code: SPAN_STATUS_ERROR, message: herald.code })
      // The store is down or slow: tell the publisher when to try again.
      return herald.status === 503
        ? errorResponse(herald, { 'retry-after': '1' })
        : errorResponse(herald)
    } finally {
      span?.end()
    }
  }
}

/** `POST /publish`. */
export const publishRoutes: RouteFactory = (ctx) => {
  const publish = createPublishHandler(ctx)
  return {
    routes: [
      {
        path: '/publish',
        methods: { POST: (req) => publish(req, 'json') },
        preflight: PUBLISH_PREFLIGHT,
      },
    ],
  }
}
