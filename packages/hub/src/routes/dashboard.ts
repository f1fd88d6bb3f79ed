/**
 * The dashboard: its static files (built by `@herald/dashboard` and handed to `createHub`;
 * the hub reads no file) and its API under `/dashboard/api/`: `session`, `stats` (SSE),
 * `clients`, `publish`, `tail` (SSE). Everything but the read-only stats summary needs the
 * admin grant (see `admin.ts`). Its streams run on a stream server of their own, so a
 * dashboard never counts as a connection in the numbers it shows.
 */

import { assertValidTopicPattern } from '@herald/store'
import { ANONYMOUS } from '../auth.js'
import { listClients } from '../dashboard-api.js'
import type { HubRequest, HubResponse } from '../http-io.js'
import { decodeUtf8, fail, json } from '../http-io.js'
import { parseJsonPublish } from '../publish-request.js'
import type { Route, RouteFactory } from './route.js'

const API = '/dashboard/api'
const HTML_HEADERS: Record<string, string> = {
  // The page loads only its own files and talks only to its own origin.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
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

/** `/`, the dashboard's files and `/dashboard/api/*`. */
export const dashboardRoutes: RouteFactory = (ctx) => {
  const { admin: gate, dashboard } = ctx
  const { stats, tails, assets } = dashboard

  function file(path: string): ((req: HubRequest) => Promise<HubResponse>) | undefined {
    const found = assets?.get(path)
    if (found === undefined) return undefined
    const html = found.contentType.startsWith('text/html')
    // Vite names every file under dashboard/ after its content hash: cache those forever.
    const hashed = path.startsWith('/dashboard/')
    const answer: HubResponse = {
      status: 200,
      headers: {
        'content-type': found.contentType,
        'x-content-type-options': 'nosniff',
        'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
        ...(html ? HTML_HEADERS : {}),
      },
      body: found.body,
    }
    return async () => answer
  }

  const files: Route[] = []
  for (const path of assets?.keys() ?? []) {
    if (path === '/index.html') continue
    const handler = file(path)
    if (handler !== undefined) files.push({ path, listed: false, methods: { GET: handler } })
  }
  const icon = file('/favicon.svg')
  if (icon !== undefined)
    files.push({ path: '/favicon.ico', listed: false, methods: { GET: icon } })

  return {
    page: file('/index.html'),
    routes: [
      ...files,
      {
        path: `${API}/session`,
        methods: {
          async GET(req) {
            const access = await gate.check(req)
            return json(200, { gated: gate.gated, admin: access === 'admin' })
          },
        },
      },
      {
        path: `${API}/clients`,
        methods: {
          async GET(req) {
            await gate.require(req)
            const query = {
              q: req.url.searchParams.get('q') ?? undefined,
              offset: intParam(req, 'offset'),
              limit: intParam(req, 'limit'),
            }
            // With workers, every worker's clients, cut into this page on the cluster primary.
            const page =
              dashboard.peers === undefined
                ? listClients(dashboard.clients(), dashboard.clientCount(), query)
                : await dashboard.peers.clients(query)
            return json(200, page, { 'cache-control': 'no-store' })
          },
        },
      },
      {
        path: `${API}/publish`,
        methods: {
          async POST(req) {
            await gate.require(req)
            const type = (req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase()
            if (type !== 'application/json') {
              throw fail(
                'HERALD_UNSUPPORTED_MEDIA_TYPE',
                415,
                'publish with Content-Type application/json',
              )
            }
            const text = decodeUtf8(await req.body(ctx.maxBodyBytes, ctx.bodyTimeoutMs))
            const { events } = parseJsonPublish(text, ctx.limits)
            await ctx.checkSchemas(events)
            const ids = (await ctx.append(events, performance.now())).map((e) => e.id)
            return json(200, { id: ids[0], ids })
          },
        },
      },
    ],
    streams: [
      {
        path: `${API}/stats`,
        server: dashboard.streams,
        // The read-only summary is public; the admin grant adds topics and node names.
        async subscribe(req) {
          const access = await gate.check(req)
          return { topics: [], principal: { ...ANONYMOUS, admin: access === 'admin' } }
        },
        start(session, { principal }) {
          const isAdmin = principal.admin === true
          session.send({
            event: 'snapshot',
            data: JSON.stringify(stats.snapshot({ admin: isAdmin, gated: gate.gated })),
          })
          const stop = stats.watch((sample) => {
            session.send({ event: 'sample', data: JSON.stringify(sample) })
          }, isAdmin)
          session.signal.addEventListener('abort', stop, { once: true })
        },
      },
      {
        path: `${API}/tail`,
        server: dashboard.streams,
        async subscribe(req) {
          await gate.require(req)
          const pattern = req.url.searchParams.get('topic') ?? ''
          try {
            assertValidTopicPattern(pattern)
          } catch (error) {
            throw fail('HERALD_INVALID_TOPIC', 400, (error as Error).message)
          }
          return { topics: [pattern], principal: { ...ANONYMOUS, admin: true } }
        },
        start(session, { topics }) {
          tails.add(session, topics[0] as string)
        },
      },
    ],
  }
}
