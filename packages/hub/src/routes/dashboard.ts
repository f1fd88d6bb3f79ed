/**
 * The dashboard routes: its static files (built by `@herald/dashboard`, handed in by the
 * caller: the hub reads no file), and its API under `/dashboard/api/`: `session`, `stats`
 * (SSE), `clients`, `publish`, `tail` (SSE). Everything but the read-only stats summary
 * needs the admin grant (see `admin.ts`). Its streams run on a stream server of their own, so
 * a dashboard never counts as a connection in the numbers it shows.
 */
import { isHeraldError } from '@herald/protocol'
import type { Session, StreamServer } from '@herald/server'
import { createStreamServer } from '@herald/server'
import { assertValidTopicPattern } from '@herald/store'
import type { AdminAccess, AdminGate } from '../admin.js'
import type { ClientView, Tails } from '../dashboard-api.js'
import { createTails, listClients } from '../dashboard-api.js'
import type { HubRequest, HubResponse } from '../http-io.js'
import { decodeUtf8, errorResponse, fail, json } from '../http-io.js'
import type { HubStats } from '../stats.js'

/** One static file of the dashboard. */
export interface DashboardAsset {
  /** File contents (the built dashboard is text only: HTML, JS, CSS, SVG). */
  readonly body: string
  /** `Content-Type`. */
  readonly contentType: string
}

/** The dashboard's files by URL path (`/index.html`, `/dashboard/index-abc123.js`, ...). */
export type DashboardAssets = ReadonlyMap<string, DashboardAsset>

/** What the dashboard routes need from the hub. */
export interface DashboardDeps {
  readonly gate: AdminGate
  readonly stats: HubStats
  /** The built front end; without it `/` stays the JSON index and only the API is served. */
  readonly assets: DashboardAssets | undefined
  /** Subscribers on this node, in connection order. */
  readonly clients: () => Iterable<ClientView>
  readonly clientCount: () => number
  /** Parses, validates and appends a JSON publish body (trusted: the caller is an admin). */
  readonly publish: (body: string) => Promise<string[]>
  /** Largest publish body, in bytes. */
  readonly maxBodyBytes: number
  readonly heartbeatMs: number
}

/** The dashboard's routes. */
export interface DashboardRoutes {
  /** Answers a non-stream dashboard path; `undefined`: not one. */
  route(req: HubRequest): Promise<HubResponse | undefined>
  /** `true` for the dashboard's event-stream paths. */
  isStream(req: HubRequest): boolean
  /**
   * Authorizes a stream request. Resolves to what {@link start} needs, or to an error answer
   * (401, 403, 400, 405) to write instead.
   */
  authorize(req: HubRequest): Promise<StreamGrant | HubResponse>
  /** The stream server the dashboard's streams run on. */
  readonly streams: StreamServer
  /** Feeds an accepted session. */
  start(session: Session, grant: StreamGrant): void
  /** Copies a dispatched batch to the open tails. */
  readonly tails: Tails
  /** Closes every dashboard stream. */
  close(): Promise<void>
}

/** An authorized dashboard stream. */
export type StreamGrant =
  | { readonly kind: 'stats'; readonly access: AdminAccess }
  | { readonly kind: 'tail'; readonly pattern: string }

const API = '/dashboard/api/'
const HTML_HEADERS: Record<string, string> = {
  // The page loads only its own files and talks only to its own origin.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
}

function errorOf(error: unknown): HubResponse {
  if (isHeraldError(error)) return errorResponse(error)
  return errorResponse(fail('HERALD_STORE_UNAVAILABLE', 503, 'the request failed'))
}

function notAllowed(allow: string): HubResponse {
  return errorResponse(fail('HERALD_METHOD_NOT_ALLOWED', 405, `use ${allow}`), { allow })
}

function wantsHtml(req: HubRequest): boolean {
  return (req.header('accept') ?? '').includes('text/html')
}

function intParam(req: HubRequest, name: string): number | undefined {
  const raw = req.url.searchParams.get(name)
  if (raw === null || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 0) {
    throw fail('HERALD_INVALID_REQUEST', 400, `${name} must be a non-negative integer`)
  }
  return n
}

/** Creates the dashboard routes. */
export function createDashboardRoutes(deps: DashboardDeps): DashboardRoutes {
  const { gate, stats, assets } = deps
  const streams = createStreamServer({ heartbeatMs: deps.heartbeatMs })
  const tails = createTails()

  function asset(path: string, method: string): HubResponse | undefined {
    const file = assets?.get(path)
    if (file === undefined) return undefined
    if (method !== 'GET' && method !== 'HEAD') return notAllowed('GET')
    const hashed = path.startsWith('/dashboard/')
    return {
      status: 200,
      headers: {
        'content-type': file.contentType,
        'x-content-type-options': 'nosniff',
        ...(file.contentType.startsWith('text/html') ? HTML_HEADERS : {}),
        // Vite names every asset after its content hash: cache forever.
        'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
      },
      body: file.body,
    }
  }

  async function api(req: HubRequest, name: string): Promise<HubResponse> {
    switch (name) {
      case 'session': {
        if (req.method !== 'GET' && req.method !== 'HEAD') return notAllowed('GET')
        const access = await gate.check(req)
        return json(200, { gated: gate.gated, admin: access === 'admin' })
      }
      case 'clients': {
        if (req.method !== 'GET' && req.method !== 'HEAD') return notAllowed('GET')
        await gate.require(req)
        const page = listClients(deps.clients(), deps.clientCount(), {
          q: req.url.searchParams.get('q') ?? undefined,
          offset: intParam(req, 'offset'),
          limit: intParam(req, 'limit'),
        })
        return json(200, page, { 'cache-control': 'no-store' })
      }
      case 'publish': {
        if (req.method !== 'POST') return notAllowed('POST')
        await gate.require(req)
        const type = (req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase()
        if (type !== 'application/json') {
          throw fail(
            'HERALD_UNSUPPORTED_MEDIA_TYPE',
            415,
            'publish with Content-Type application/json',
          )
        }
        const ids = await deps.publish(decodeUtf8(await req.body(deps.maxBodyBytes, 30_000)))
        return json(200, { id: ids[0], ids })
      }
      default:
        return errorResponse(fail('HERALD_NOT_FOUND', 404, `no route ${req.url.pathname}`))
    }
  }

  return {
    streams,
    tails,

    async route(req) {
      const path = req.url.pathname
      if (path.startsWith(API)) {
        try {
          return await api(req, path.slice(API.length))
        } catch (error) {
          return errorOf(error)
        }
      }
      if (assets === undefined) return undefined
      if (path === '/') {
        // Browsers get the page; scripts asking for JSON keep the hub's index.
        return wantsHtml(req) ? asset('/index.html', req.method) : undefined
      }
      if (path === '/favicon.ico') return asset('/favicon.svg', req.method)
      return asset(path, req.method)
    },

    isStream(req) {
      const path = req.url.pathname
      return (path === `${API}stats` || path === `${API}tail`) && req.method !== 'POST'
    },

    async authorize(req) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return notAllowed('GET')
      try {
        if (req.url.pathname === `${API}stats`) {
          return { kind: 'stats', access: await gate.check(req) }
        }
        await gate.require(req)
        const pattern = req.url.searchParams.get('topic') ?? ''
        try {
          assertValidTopicPattern(pattern)
        } catch (error) {
          throw fail('HERALD_INVALID_TOPIC', 400, (error as Error).message)
        }
        return { kind: 'tail', pattern }
      } catch (error) {
        return errorOf(error)
      }
    },

    start(session, grant) {
      if (grant.kind === 'tail') {
        tails.add(session, grant.pattern)
        return
      }
      const admin = grant.access === 'admin'
      session.send({
        event: 'snapshot',
        data: JSON.stringify(stats.snapshot({ admin, gated: gate.gated })),
      })
      const stop = stats.watch((sample) => {
        session.send({ event: 'sample', data: JSON.stringify(sample) })
      }, admin)
      session.signal.addEventListener('abort', stop, { once: true })
    },

    async close() {
      await streams.close()
    },
  }
}
