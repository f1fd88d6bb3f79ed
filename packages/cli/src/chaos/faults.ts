/**
 * The faults a chaos run injects, and when. Each fault is injected, held for a while (or
 * is instant), then healed; the run records when, what exactly, and how long the
 * subscribers took to recover.
 */

import type { FaultProxy } from './fault-proxy.js'
import type { HubNodes } from './hub-nodes.js'

/** The kinds of fault. */
export const FAULT_KINDS = [
  'cut',
  'latency',
  'bandwidth',
  'stall',
  'half-close',
  'hub-kill',
  'worker-kill',
  'broker-cut',
  'node-kill',
] as const

/** One kind of fault. */
export type FaultKind = (typeof FAULT_KINDS)[number]

/** What a fault needs to act on. */
export interface FaultContext {
  proxy: FaultProxy
  nodes: HubNodes
  /** Proxy between the nodes and the broker (Redis/NATS), if any. */
  brokerProxy: FaultProxy | undefined
  /** Longest a held fault lasts, ms. */
  holdMs: number
  /** Subscribers' stall detection, ms: a stall must outlast it. */
  inactivityTimeoutMs: number
  /** How many node kills happened so far (they take turns). */
  nodeTurn: number
}

/** A fault as it happened. */
export interface FaultRecord {
  kind: FaultKind
  /** Seconds since the run started. */
  startS: number
  endS: number
  detail: string
  /** Ms from the fault's end until every subscriber had an event published after it. */
  recoveryMs: number | null
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The kinds that apply to a run's setup. */
export function applicableFaults(setup: {
  workers: boolean
  broker: boolean
  nodes: number
}): FaultKind[] {
  const kinds: FaultKind[] = ['cut', 'latency', 'bandwidth', 'stall', 'half-close']
  if (setup.broker) kinds.push('broker-cut', 'node-kill')
  else kinds.push('hub-kill')
  if (setup.workers) kinds.push('worker-kill')
  return kinds
}

/** Injects `kind`, holds it, heals it; resolves with the description. */
export async function runFault(kind: FaultKind, ctx: FaultContext): Promise<string> {
  const { proxy, nodes, holdMs } = ctx
  switch (kind) {
    case 'cut': {
      const n = proxy.cut(0.5)
      return `reset ${n} of the proxied connections`
    }
    case 'latency': {
      proxy.setMode({ kind: 'latency', ms: 400 })
      await sleep(holdMs)
      proxy.setMode({ kind: 'pass' })
      return `+400 ms on every chunk for ${(holdMs / 1000).toFixed(1)} s`
    }
    case 'bandwidth': {
      proxy.setMode({ kind: 'bandwidth', bytesPerSec: 1024 })
      await sleep(holdMs)
      proxy.setMode({ kind: 'pass' })
      return `1 KiB/s per connection for ${(holdMs / 1000).toFixed(1)} s`
    }
    case 'stall': {
      const ms = Math.max(holdMs, ctx.inactivityTimeoutMs + 1500)
      proxy.setMode({ kind: 'stall' })
      await sleep(ms)
      proxy.setMode({ kind: 'pass' })
      return `accepted, forwarded nothing for ${(ms / 1000).toFixed(1)} s, then released what it held`
    }
    case 'half-close': {
      const n = proxy.halfClose('client')
      const m = proxy.halfClose('upstream')
      return `FIN towards ${n} clients, then towards the hub on ${m} connections`
    }
    case 'hub-kill': {
      const node = nodes.list[0]
      const pid = node?.pid
      await nodes.kill(0)
      await sleep(Math.min(1000, holdMs))
      const started = performance.now()
      await nodes.restart(0)
      return `SIGKILL pid ${pid}, restarted in ${Math.round(performance.now() - started)} ms`
    }
    case 'worker-kill': {
      const pid = nodes.killWorker(0)
      await sleep(Math.min(1000, holdMs))
      return pid === undefined ? 'no worker found to kill' : `SIGKILL worker pid ${pid}`
    }
    case 'node-kill': {
      const i = ctx.nodeTurn++ % nodes.list.length
      const pid = nodes.list[i]?.pid
      await nodes.kill(i)
      await sleep(holdMs)
      await nodes.restart(i)
      return `SIGKILL node ${i + 1} (pid ${pid}), restarted after ${(holdMs / 1000).toFixed(1)} s`
    }
    case 'broker-cut': {
      const broker = ctx.brokerProxy
      if (broker === undefined) return 'no broker'
      // Existing connections reset; new ones accepted and black-holed, then reset when it ends.
      const n = broker.cut(1)
      broker.setMode({ kind: 'blackhole' })
      await sleep(holdMs)
      broker.setMode({ kind: 'pass' })
      return `reset ${n} broker connections, then a ${(holdMs / 1000).toFixed(1)} s blackhole (connections reset at its end)`
    }
  }
}
