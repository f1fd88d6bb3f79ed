/**
 * A TCP fault proxy: sits between clients and one or more upstreams (hub nodes, or a broker)
 * and degrades the path on command while traffic flows. Modes apply to every connection at
 * once, old and new:
 *
 * - `pass`: forward bytes as they come (with backpressure both ways).
 * - `latency`: hold every chunk `ms` before forwarding (order kept).
 * - `bandwidth`: forward at most `bytesPerSec` per connection and direction.
 * - `stall`: accept, forward nothing (buffer); the client's stall detection must notice.
 * - `blackhole`: like `stall`, and when the mode ends every connection that lived through it
 *   is reset (a middlebox that lost its state: a NAT flush, a failover). Bytes are never
 *   dropped from a connection that goes on: TCP would not do that, and neither does this.
 *
 * And one-off actions: `cut(fraction)` resets that share of the connections, `halfClose`
 * sends a FIN towards the clients (or towards the upstream) and forwards nothing more on
 * those connections. New connections go to the upstreams in turn; one that refuses is
 * skipped, and a client gets a reset when none accepts.
 */
import net from 'node:net'

/** A proxy mode (see the module comment). */
export type ProxyMode =
  | { kind: 'pass' }
  | { kind: 'latency'; ms: number }
  | { kind: 'bandwidth'; bytesPerSec: number }
  | { kind: 'stall' }
  | { kind: 'blackhole' }

/** Where connections go. */
export interface Upstream {
  host: string
  port: number
}

/** Options of {@link createFaultProxy}. */
export interface FaultProxyOptions {
  /** The upstreams, asked at each new connection (a killed node may be left out). */
  upstreams: () => readonly Upstream[]
  host?: string
}

/** A running proxy. */
export interface FaultProxy {
  readonly port: number
  /** Open client connections. */
  readonly connections: number
  setMode(mode: ProxyMode): void
  /** Resets `fraction` (0..1) of the open connections, chosen at random; answers how many. */
  cut(fraction: number): number
  /** Half-closes every open connection towards `side`; answers how many. */
  halfClose(side: 'client' | 'upstream'): number
  close(): Promise<void>
}

interface Pipe {
  from: net.Socket
  to: net.Socket
  queue: Array<{ chunk: Buffer; due: number }>
  queued: number
  timer: NodeJS.Timeout | undefined
  /** Bandwidth: when the next byte may leave. */
  nextFree: number
  dead: boolean
}

interface Pair {
  client: net.Socket
  upstream: net.Socket
  down: Pipe
  up: Pipe
}

const HIGH_WATER = 1 << 20

/** Starts a proxy on a free port. */
export async function createFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  let mode: ProxyMode = { kind: 'pass' }
  let turn = 0
  const pairs = new Set<Pair>()
  const accepted = new Set<net.Socket>()

  const pump = (pipe: Pipe) => {
    pipe.timer = undefined
    if (pipe.dead) return
    const now = performance.now()
    while (pipe.queue.length > 0) {
      if (mode.kind === 'stall' || mode.kind === 'blackhole') break
      const head = pipe.queue[0] as { chunk: Buffer; due: number }
      if (mode.kind === 'latency' && head.due > now) {
        pipe.timer = setTimeout(() => pump(pipe), head.due - now)
        return
      }
      if (mode.kind === 'bandwidth') {
        if (pipe.nextFree > now) {
          pipe.timer = setTimeout(() => pump(pipe), pipe.nextFree - now)
          return
        }
        // Send up to 50 ms worth at once.
        const budget = Math.max(1, Math.floor(mode.bytesPerSec / 20))
        let chunk = head.chunk
        if (chunk.length > budget) {
          head.chunk = chunk.subarray(budget)
          chunk = chunk.subarray(0, budget)
        } else pipe.queue.shift()
        pipe.queued -= chunk.length
        pipe.nextFree = Math.max(pipe.nextFree, now) + (chunk.length / mode.bytesPerSec) * 1000
        pipe.to.write(chunk)
        continue
      }
      pipe.queue.shift()
      pipe.queued -= head.chunk.length
      pipe.to.write(head.chunk)
    }
    if (pipe.queued < HIGH_WATER && pipe.from.isPaused()) pipe.from.resume()
  }

  const makePipe = (from: net.Socket, to: net.Socket): Pipe => {
    const pipe: Pipe = {
      from,
      to,
      queue: [],
      queued: 0,
      timer: undefined,
      nextFree: 0,
      dead: false,
    }
    from.on('data', (chunk: Buffer) => {
      if (pipe.dead) return
      if (mode.kind === 'pass' && pipe.queue.length === 0) {
        if (!to.write(chunk)) {
          from.pause()
          to.once('drain', () => from.resume())
        }
        return
      }
      pipe.queue.push({ chunk, due: performance.now() + (mode.kind === 'latency' ? mode.ms : 0) })
      pipe.queued += chunk.length
      if (pipe.queued >= HIGH_WATER) from.pause()
      if (pipe.timer === undefined) pump(pipe)
    })
    from.on('end', () => {
      if (!pipe.dead) to.end()
    })
    return pipe
  }

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted.add(client)
    client.once('close', () => accepted.delete(client))
    const all = options.upstreams()
    if (all.length === 0) {
      client.resetAndDestroy()
      return
    }
    let tries = 0
    const attempt = () => {
      const target = all[turn++ % all.length] as Upstream
      const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true })
      upstream.once('error', () => {
        if (pair !== undefined) return
        if (++tries < all.length) attempt()
        else client.resetAndDestroy()
      })
      let pair: Pair | undefined
      upstream.once('connect', () => {
        upstream.setNoDelay(true)
        client.setNoDelay(true)
        pair = {
          client,
          upstream,
          down: makePipe(upstream, client),
          up: makePipe(client, upstream),
        }
        const p = pair
        pairs.add(p)
        const end = () => {
          pairs.delete(p)
          for (const pipe of [p.down, p.up]) {
            pipe.dead = true
            if (pipe.timer !== undefined) clearTimeout(pipe.timer)
          }
          client.destroy()
          upstream.destroy()
        }
        client.on('close', end)
        upstream.on('close', end)
        client.on('error', () => {})
        upstream.on('error', () => {})
      })
    }
    client.on('error', () => {})
    attempt()
  })

  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port

  return {
    port,
    get connections() {
      return pairs.size
    },
    setMode(next) {
      const endBlackhole = mode.kind === 'blackhole' && next.kind !== 'blackhole'
      mode = next
      for (const pair of [...pairs]) {
        if (endBlackhole) {
          pair.client.resetAndDestroy()
          pair.upstream.resetAndDestroy()
          continue
        }
        for (const pipe of [pair.down, pair.up]) {
          if (pipe.timer !== undefined) clearTimeout(pipe.timer)
          pump(pipe)
        }
      }
    },
    cut(fraction) {
      let n = 0
      for (const pair of [...pairs]) {
        if (Math.random() >= fraction) continue
        n++
        pair.client.resetAndDestroy()
        pair.upstream.destroy()
      }
      return n
    },
    halfClose(side) {
      let n = 0
      for (const pair of pairs) {
        const toward = side === 'client' ? pair.down : pair.up
        if (toward.dead) continue
        n++
        toward.dead = true
        toward.queue = []
        toward.to.end()
      }
      return n
    },
    close() {
      for (const pair of pairs) pair.upstream.destroy()
      for (const socket of accepted) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
