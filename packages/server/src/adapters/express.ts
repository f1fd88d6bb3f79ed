/**
 * Express (4 and 5) adapter. Express requests and responses are Node's, so this is
 * `handleNode` plus Express's proxy-aware `req.ip`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { peerAddress } from '../peer-address.js'
import type { StreamServer } from '../types.js'
import { runHandler, type SessionHandler } from './run-handler.js'

/** The parts of an Express request the adapter reads. */
export type ExpressLikeRequest = IncomingMessage & { ip?: string | undefined }

/** Context handed to an Express session handler. */
export interface ExpressContext {
  req: ExpressLikeRequest
  res: ServerResponse
}

/**
 * An Express route handler that opens a stream: `app.get('/events', createExpressHandler(s,
 * (session, { req }) => ...))`. Refusals (406, 429, 503, CORS) are answered for you.
 * `req.ip` (which honours Express's `trust proxy`) is the session IP.
 */
export function createExpressHandler(
  server: StreamServer,
  onSession?: SessionHandler<ExpressContext>,
): (req: ExpressLikeRequest, res: ServerResponse) => void {
  return (req, res) => {
    const ip = typeof req.ip === 'string' ? peerAddress(req.ip) : undefined
    const session = server.handleNode(req, res, ip === undefined ? undefined : { ip })
    if (session !== undefined) runHandler(onSession, session, { req, res })
  }
}
