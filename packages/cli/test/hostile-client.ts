/**
 * Tools for the hostile-client suite: raw loopback sockets that do what an attacker does
 * (never read, trickle, vanish, pipeline), the hub's RSS read from /proc, and /metrics samples.
 */
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'

/** Resident set size of process `pid`, in MiB, from /proc (the real process, not a mock). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status)
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(match[1]) / 1024
}

/**
 * The value of one sample of `/metrics` (`name` with its labels, as printed), or 0. `token`:
 * an admin token, for a hub with auth on.
 */
export async function metric(url: string, sample: string, token?: string): Promise<number> {
  const answer = await fetch(`${url}/metrics`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  })
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}`)
  const text = await answer.text()
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1))
  }
  return 0
}

/** A raw client connection and what the hub sent on it. */
export interface RawClient {
  readonly socket: Socket
  /** Everything received so far (latin1). */
  received(): string
  /** Resolves `true` once the hub closed the connection, `false` after `ms`. */
  closedWithin(ms: number): Promise<boolean>
  /** Resolves with what was received once `predicate` holds; rejects after `ms`. */
  until(predicate: (text: string) => boolean, ms?: number): Promise<string>
}

/** Opens a raw TCP connection to `url`'s port, from `localAddress` (127.0.0.x) if given. */
export function rawClient(url: string, localAddress?: string): RawClient {
  const { port } = new URL(url)
  const socket = connect({
    port: Number(port),
    host: '127.0.0.1',
    ...(localAddress === undefined ? {} : { localAddress }),
  })
  socket.on('error', () => {})
  let text = ''
  const waiters = new Set<() => void>()
  let closed = false
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => {
    text += chunk
    for (const wake of [...waiters]) wake()
  })
  socket.once('close', () => {
    closed = true
    for (const wake of [...waiters]) wake()
  })
  function wait(check: () => boolean, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (check()) {
        resolve(true)
        return
      }
      const wake = (): void => {
        if (!check()) return
        clearTimeout(timer)
        waiters.delete(wake)
        resolve(true)
      }
      const timer = setTimeout(() => {
        waiters.delete(wake)
        resolve(false)
      }, ms)
      waiters.add(wake)
    })
  }
  return {
    socket,
    received: () => text,
    closedWithin: (ms) => wait(() => closed, ms),
    async until(predicate, ms = 5000) {
      if (await wait(() => predicate(text), ms)) return text
      throw new Error(`timed out after ${ms} ms; received ${JSON.stringify(text.slice(0, 300))}`)
    },
  }
}

/** Resolves once `check()` holds (polled every 20 ms); rejects after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A loopback source address: spreads many client sockets over 127.0.0.2 ... 127.0.0.201. */
export function sourceAddress(i: number): string {
  return `127.0.0.${2 + (i % 200)}`
}
