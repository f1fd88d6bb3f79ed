/**
 * Fastify adapter: hijacks the reply (Fastify stops managing it) and hands the raw Node
 * objects to `handleNode`.
 */

import { peerAddress } from '../peer-address.js'
import type { NodeRequest, NodeResponse, StreamServer } from '../types.js'
import { runHandler, type SessionHandler } from './run-handler.js'

/** The parts of a Fastify request the adapter reads. */
export interface FastifyLikeRequest {
  raw: NodeRequest
  ip?: string | undefined
}

/** The parts of a Fastify reply the adapter uses. */
export interface FastifyLikeReply {
  raw: NodeResponse
  hijack(): unknown
}

/** Context handed to a Fastify session handler. */
export interface FastifyContext<Req extends FastifyLikeRequest = FastifyLikeRequest> {
  request: Req
  reply: FastifyLikeReply
}

/**
 * A Fastify route handler that opens a stream:
 * `app.get('/events', createFastifyHandler(s, (session, { request }) => ...))`.
 * Works on HTTP/1.1 and HTTP/2 Fastify servers; `request.ip` is the session IP.
 */
export function createFastifyHandler<Req extends FastifyLikeRequest = FastifyLikeRequest>(
  server: StreamServer,
  onSession?: SessionHandler<FastifyContext<Req>>,
): (request: Req, reply: FastifyLikeReply) => void {
  return (request, reply) => {
    reply.hijack()
    const ip = typeof request.ip === 'string' ? peerAddress(request.ip) : undefined
    const session = server.handleNode(request.raw, reply.raw, ip === undefined ? undefined : { ip })
    if (session !== undefined) runHandler(onSession, session, { request, reply })
  }
}
