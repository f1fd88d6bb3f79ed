/**
 * Koa adapter: tells Koa not to respond (`ctx.respond = false`) and hands the raw Node objects
 * to `handleNode`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { peerAddress } from '../peer-address.js'
import type { StreamServer } from '../types.js'
import { runHandler, type SessionHandler } from './run-handler.js'

/** The parts of a Koa context the adapter uses. */
export interface KoaLikeContext {
  req: IncomingMessage
  res: ServerResponse
  ip?: string | undefined
  respond?: boolean | undefined
}

/**
 * A Koa middleware that turns every request reaching it into a stream (mount it on a route):
 * `router.get('/events', createKoaMiddleware(s, (session, ctx) => ...))`. `ctx.ip` (which
 * honours `app.proxy`) is the session IP.
 */
export function createKoaMiddleware<Ctx extends KoaLikeContext = KoaLikeContext>(
  server: StreamServer,
  onSession?: SessionHandler<Ctx>,
): (ctx: Ctx, next?: () => Promise<unknown>) => Promise<void> {
  return async (ctx) => {
    ctx.respond = false
    const ip = typeof ctx.ip === 'string' && ctx.ip !== '' ? peerAddress(ctx.ip) : undefined
    const session = server.handleNode(ctx.req, ctx.res, ip === undefined ? undefined : { ip })
    if (session !== undefined) runHandler(onSession, session, ctx)
  }
}
