/**
 * The socket side of `herald serve`: plain HTTP/1.1 (`node:http`), or with a certificate
 * HTTPS with HTTP/2 (HTTP/1.1 still accepted). Browsers allow six HTTP/1.1 connections per
 * origin, and every `EventSource` holds one; HTTP/2 multiplexes them all on one.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2'
import { createRequire } from 'node:module'
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server,
  type Socket,
} from 'node:net'
import { HeraldError } from '@herald/protocol'
import type { GuardableServer } from '@herald/server'

/** A request handler for either transport. */
export type Handler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void

/** A listening server. */
export interface Listener {
  /** `http` or `https`. */
  readonly scheme: 'http' | 'https'
  /** Listens; resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo>
  /** Stops accepting; lets open requests and streams finish. */
  stopAccepting(): void
  /** Closes whatever is still open. */
  destroy(): void
}

/** Builds the lean path's connection listener in front of `fallback` (`hub.createConnectionHandler`). */
export type LeanStreams = (fallback: {
  emit(event: 'connection', socket: Socket): boolean
}) => (socket: Socket) => void

/**
 * Creates the listener: HTTPS + HTTP/2 when `tls` is given, plain HTTP/1.1 otherwise; with
 * `lean` and plain HTTP, a `net` server whose connections go through the lean stream path
 * first and on to the HTTP server (which never listens itself) for everything else. With
 * `tls`, `lean` is not used: every HTTPS and HTTP/2 stream goes through `node:http2`'s
 * compatibility API (the lean path parses plain HTTP/1.1 only).
 *
 * `guard` (plain HTTP without `lean`) guards the server's connections
 * (`StreamServer.guardServer`).
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG` when a certificate or key cannot be read.
 */
export function createListener(
  handler: Handler,
  tls: { certPath: string; keyPath: string } | undefined,
  lean?: LeanStreams,
  guard?: (server: Server & GuardableServer) => void,
): Listener {
  if (tls === undefined) {
    const server = createServer(handler)
    // Streams are long-lived: no request timeout (heartbeats keep proxies awake).
    server.requestTimeout = 0
    server.headersTimeout = 30_000
    if (lean !== undefined) {
      // The lean path guards every connection itself (it sees them first).
      const front = createNetServer(lean(server))
      return {
        scheme: 'http',
        listen: (port, host) => listenOn(front, port, host),
        stopAccepting() {
          front.close()
          server.closeIdleConnections()
        },
        destroy() {
          server.closeAllConnections()
          // Lean streams are not node:http's connections, and node:net keeps no list of a
          // server's sockets: they are found among the process's open handles, once, at exit.
          // A Set with a 'close' listener per socket cost about 160 bytes per idle stream for
          // its whole life (the set's slot, and a second 'close' listener that makes the
          // socket's listeners an array).
          for (const socket of openSocketsOf(front)) socket.destroy()
        },
      }
    }
    // Sockets that have not sent a request yet count against the connection limits, with a
    // short head deadline (see StreamServer.guardServer).
    guard?.(server)
    return {
      scheme: 'http',
      listen: (port, host) => listenOn(server, port, host),
      stopAccepting() {
        server.close()
        server.closeIdleConnections()
      },
      destroy() {
        server.closeAllConnections()
      },
    }
  }
  let cert: Buffer
  let key: Buffer
  try {
    cert = readFileSync(tls.certPath)
    key = readFileSync(tls.keyPath)
  } catch (error) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `--tls-cert/--tls-key: ${(error as Error).message}`,
    )
  }
  // node:http2 is loaded here, for TLS only: a plain HTTP hub never needs it (about 2 MiB of
  // RSS at start-up).
  const { createSecureServer } = createRequire(import.meta.url)(
    'node:http2',
  ) as typeof import('node:http2')
  let server: ReturnType<typeof createSecureServer>
  try {
    server = createSecureServer({ cert, key, allowHTTP1: true }, handler)
  } catch (error) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `--tls-cert/--tls-key: ${(error as Error).message}`,
    )
  }
  const sockets = new Set<Socket>()
  const sessions = new Set<Http2Session>()
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  server.on('session', (session: Http2Session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
  })
  return {
    scheme: 'https',
    listen: (port, host) => listenOn(server, port, host),
    stopAccepting() {
      server.close()
      // GOAWAY: clients open new streams elsewhere; the open ones may finish.
      for (const session of sessions) session.close()
    },
    destroy() {
      for (const session of sessions) session.destroy()
      for (const socket of sockets) socket.destroy()
    },
  }
}

/**
 * The open connections `server` accepted, from Node's list of the process's open handles
 * (node:net sets `socket.server` on every socket a server accepts; a lean stream that let go
 * of its socket lists as its transport, which keeps `server` too). Read when asked; nothing is
 * kept.
 */
function openSocketsOf(server: Server): { destroy(): void }[] {
  const handles =
    (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? []
  return handles.filter(
    (handle): handle is { destroy(): void } =>
      handle !== null &&
      typeof handle === 'object' &&
      (handle as { server?: unknown }).server === server &&
      typeof (handle as { destroy?: unknown }).destroy === 'function',
  )
}

/**
 * Connections the kernel queues before the hub accepts them. Node's default (511) overflows
 * when thousands of clients reconnect at once (a deploy, a network blip): the SYNs beyond it
 * are dropped and retried after 1 s, 3 s, 7 s, so a reconnect storm takes seconds longer than
 * accepting it would. The kernel caps it at `net.core.somaxconn` (4096 by default since
 * Linux 5.4).
 */
const LISTEN_BACKLOG = 4096

function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}
