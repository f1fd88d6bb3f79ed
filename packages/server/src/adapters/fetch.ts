/**
 * Fetch handlers: for any runtime that speaks `Request -> Response` (Bun.serve, Deno.serve,
 * Next.js route handlers, Cloudflare-style workers), and for Hono on any of them.
 */
import { peerAddress } from '../peer-address.js'
import type { FetchHandleInit, StreamServer } from '../types.js'
import { runHandler, type SessionHandler } from './run-handler.js'

/** Context handed to a Fetch session handler. */
export interface FetchContext {
  request: Request
}

/**
 * A `(request) => Response` handler that opens a stream. Pass `init.ip` where the runtime
 * knows the peer address (`server.requestIP(req)` on Bun, `info.remoteAddr` on Deno) to get
 * per-IP limits.
 */
export function createFetchHandler(
  server: StreamServer,
  onSession?: SessionHandler<FetchContext>,
): (request: Request, init?: FetchHandleInit) => Response {
  return (request, init) => {
    const { response, session } = server.handleFetch(request, init)
    if (session !== undefined) runHandler(onSession, session, { request })
    return response
  }
}

/** The parts of a Hono context the adapter reads. */
export interface HonoLikeContext {
  req: { raw: Request }
  env?: unknown
}

function nodeServerPeer(env: unknown): string | undefined {
  // @hono/node-server puts the Node request in `env.incoming`.
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: unknown } } } | undefined)
    ?.incoming
  const address = incoming?.socket?.remoteAddress
  return typeof address === 'string' ? peerAddress(address) : undefined
}

/**
 * A Hono handler that opens a stream, on any runtime Hono runs on:
 * `app.get('/events', createHonoHandler(s, (session, c) => ...))`. On @hono/node-server the
 * socket's peer address is the session IP.
 */
export function createHonoHandler<C extends HonoLikeContext = HonoLikeContext>(
  server: StreamServer,
  onSession?: SessionHandler<C>,
): (c: C) => Response {
  return (c) => {
    const ip = nodeServerPeer(c.env)
    const { response, session } = server.handleFetch(c.req.raw, ip === undefined ? {} : { ip })
    if (session !== undefined) runHandler(onSession, session, c)
    return response
  }
}
