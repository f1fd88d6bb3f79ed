/**
 * The connection guard: sockets that have not sent a request head yet (a new connection, or a
 * keep-alive one between requests) hold a file descriptor like any stream, so they count
 * against the same global and per-IP limits, have a short head deadline, and are refused with
 * a logged, counted 503/429 beyond the limits instead of exhausting descriptors (which makes
 * every new client, honest or not, fail with ECONNRESET/EMFILE).
 */
import type { Socket } from 'node:net'
import type { HeraldErrorCode } from '@herald/protocol'
import { peerAddress } from './peer-address.js'

/** What the guard needs from the server core. */
export interface GuardHost {
  /** Open streams plus admitted stream requests. */
  streams(): number
  /** Open streams from `ip`. */
  streamsFrom(ip: string): number
  readonly maxConnections: number
  readonly maxPerIp: number
  readonly maxPending: number
  readonly headTimeoutMs: number
  readonly retryAfterSeconds: number
  /** Logs (rate-limited by the guard) and counts a refused or timed-out connection. */
  refusedConnection(code: HeraldErrorCode | 'timeout', ip: string, suppressed: number): void
}

/** @internal The guard over a server's sockets. */
export interface ConnectionGuard {
  /** A new connection: `false` when it was refused (answered and closed). */
  admit(socket: Socket): boolean
  /** A request head arrived on `socket`: it no longer waits for one. */
  requested(socket: Socket): void
  /**
   * A request head arrived on `socket` and the connection stays with that request until it
   * closes (a lean stream): forgotten for good, with no listener or record left on it.
   */
  taken(socket: Socket): void
  /** A response on `socket` ended: it waits for its next head (keep-alive) again. */
  finished(socket: Socket): void
  /** Sockets waiting for a head now. */
  readonly pending: number
  /** Stops the sweep. */
  close(): void
}

interface Waiting {
  readonly ip: string
  deadline: number
}

/** Soft limit on open files of this process (Linux), or `undefined`. */
export function openFileLimit(): number | undefined {
  try {
    // Loaded when asked, not imported: the package's module graph stays free of `node:`
    // imports, so `handleFetch` loads on any runtime.
    const fs = (
      globalThis as {
        process?: { getBuiltinModule?: (id: string) => unknown }
      }
    ).process?.getBuiltinModule?.('node:fs') as
      | { readFileSync(path: string, encoding: 'utf8'): string }
      | undefined
    if (fs === undefined) return undefined
    const limits = fs.readFileSync('/proc/self/limits', 'utf8')
    const match = /^Max open files\s+(\d+)/m.exec(limits)
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

/**
 * Default cap on sockets waiting for a head: half the descriptors the process may open (the
 * other half for streams, the store, logs), or 1024 where the limit cannot be read.
 */
export function defaultMaxPending(): number {
  const limit = openFileLimit()
  return limit === undefined ? 1024 : Math.max(64, Math.floor(limit / 2))
}

const STATUS_LINE: Readonly<Record<number, string>> = {
  429: 'Too Many Requests',
  503: 'Service Unavailable',
}

function refuse(socket: Socket, status: number, code: string, message: string, retry: number) {
  const body = JSON.stringify({ error: { code, message } })
  socket.on('error', () => {})
  // Written then closed at once: the descriptor is freed now (that is the point), and the
  // tiny answer is in the kernel already when the socket is new; no request is ever read.
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_LINE[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\nretry-after: ${retry}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  socket.destroy()
}

/** @internal */
export function createConnectionGuard(host: GuardHost): ConnectionGuard {
  // Insertion order is deadline order (one timeout for all; re-armed entries move to the end).
  const waiting = new Map<Socket, Waiting>()
  const perIp = new Map<string, number>()
  const outstanding = new WeakMap<Socket, number>()
  let sweep: ReturnType<typeof setInterval> | undefined
  // Refusals are logged at most once a second, with how many were not.
  let lastLog = 0
  let suppressed = 0

  function report(code: HeraldErrorCode | 'timeout', ip: string): void {
    const now = Date.now()
    if (now - lastLog < 1000) {
      suppressed++
      host.refusedConnection(code, ip, -1)
      return
    }
    host.refusedConnection(code, ip, suppressed)
    lastLog = now
    suppressed = 0
  }

  function forget(socket: Socket): void {
    const entry = waiting.get(socket)
    if (entry === undefined) return
    waiting.delete(socket)
    if (entry.ip === '') return
    const count = (perIp.get(entry.ip) ?? 1) - 1
    if (count <= 0) perIp.delete(entry.ip)
    else perIp.set(entry.ip, count)
  }

  function wait(socket: Socket, ip: string): void {
    waiting.set(socket, { ip, deadline: Date.now() + host.headTimeoutMs })
    if (ip !== '') perIp.set(ip, (perIp.get(ip) ?? 0) + 1)
    if (sweep === undefined) {
      sweep = setInterval(
        () => {
          const now = Date.now()
          for (const [late, entry] of waiting) {
            if (entry.deadline > now) break
            forget(late)
            report('timeout', entry.ip)
            late.destroy()
          }
          if (waiting.size === 0 && sweep !== undefined) {
            clearInterval(sweep)
            sweep = undefined
          }
        },
        Math.max(10, Math.min(1000, Math.floor(host.headTimeoutMs / 4))),
      )
      sweep.unref?.()
    }
  }

  function onClose(this: Socket): void {
    forget(this)
  }

  return {
    get pending() {
      return waiting.size
    },

    admit(socket) {
      if (socket.destroyed) return false
      const ip = peerAddress(socket.remoteAddress)
      if (waiting.size >= host.maxPending || waiting.size + host.streams() >= host.maxConnections) {
        report('HERALD_TOO_MANY_CONNECTIONS', ip)
        refuse(
          socket,
          503,
          'HERALD_TOO_MANY_CONNECTIONS',
          'too many open connections',
          host.retryAfterSeconds,
        )
        return false
      }
      if (ip !== '' && host.maxPerIp !== Number.POSITIVE_INFINITY) {
        if ((perIp.get(ip) ?? 0) + host.streamsFrom(ip) >= host.maxPerIp) {
          report('HERALD_TOO_MANY_CONNECTIONS_PER_IP', ip)
          refuse(
            socket,
            429,
            'HERALD_TOO_MANY_CONNECTIONS_PER_IP',
            'too many open connections from this address',
            host.retryAfterSeconds,
          )
          return false
        }
      }
      wait(socket, ip)
      // `on`, not `once`: 'close' comes once anyway, and `once` would wrap the shared
      // listener in a bound function and a state object for every socket's whole life.
      socket.on('close', onClose)
      return true
    },

    requested(socket) {
      outstanding.set(socket, (outstanding.get(socket) ?? 0) + 1)
      forget(socket)
    },

    taken(socket) {
      forget(socket)
      // Its close listener has nothing left to forget. Removing it also keeps a stream
      // socket's 'close' listeners to two (the app's and the session's): a third one grows
      // the listener array to 19 slots (168 bytes) for the socket's whole life.
      socket.removeListener('close', onClose)
      // node:net keeps the peer address it read for the limits ({ address, family, port }, 56
      // bytes and the address string) on the socket for its whole life; the stream keeps its
      // own copy of the address (its session info). A later `remoteAddress` asks the kernel
      // again.
      ;(socket as { _peername?: unknown })._peername = undefined
    },

    finished(socket) {
      const left = (outstanding.get(socket) ?? 1) - 1
      outstanding.set(socket, left)
      // Pipelined requests still running: the socket is not waiting for a head yet.
      if (left > 0 || socket.destroyed || waiting.has(socket)) return
      wait(socket, peerAddress(socket.remoteAddress))
    },

    close() {
      if (sweep !== undefined) clearInterval(sweep)
      sweep = undefined
    },
  }
}
