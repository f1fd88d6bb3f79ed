/**
 * The public factory: the server core plus its Node and Fetch transports.
 */
import { createConnectionHandler } from './connection-handler.js'
import { handleFetchRequest } from './fetch-adapter.js'
import { handleHttp2Stream, handleNodeRequest, refusePipelined } from './node-adapter.js'
import { createServerCore } from './server.js'
import type { Session, StreamServer, StreamServerOptions } from './types.js'

/**
 * Creates a stream server: it turns requests into event-stream sessions (Node `http`/`http2`
 * or Fetch), applies negotiation, CORS, limits and backpressure, and tracks open sessions.
 *
 * @throws {TypeError} for invalid options.
 */
export function createStreamServer(options: StreamServerOptions = {}): StreamServer {
  const { core, sessions, isDraining, writeLagMs, writeDelayMs, flushed, drain, close } =
    createServerCore(options)
  return {
    handleNode: (req, res, init) => handleNodeRequest(core, req, res, init),
    refusePipelined: (req, stream) => refusePipelined(core, req, stream),
    guardServer(server) {
      server.prependListener('connection', (socket) => {
        core.guard.admit(socket)
      })
      server.prependListener('request', (req, res) => {
        const socket = req.socket
        core.guard.requested(socket)
        res.once('finish', () => core.guard.finished(socket))
      })
    },
    handleHttp2Stream: (stream, headers, init) => handleHttp2Stream(core, stream, headers, init),
    handleFetch: (request, init) => handleFetchRequest(core, request, init),
    createConnectionHandler: (handlerOptions) => createConnectionHandler(core, handlerOptions),
    sessions: sessions as ReadonlySet<Session>,
    get size() {
      return sessions.size
    },
    get draining() {
      return isDraining()
    },
    get writeLagMs() {
      return writeLagMs()
    },
    get writeDelayMs() {
      return writeDelayMs()
    },
    writeDelayMsWith(frames) {
      if (typeof frames !== 'number' || !(frames >= 0)) {
        throw new TypeError(`writeDelayMsWith: frames must be a non-negative number, got ${frames}`)
      }
      return writeDelayMs(frames)
    },
    flushed,
    drain,
    close,
  }
}
