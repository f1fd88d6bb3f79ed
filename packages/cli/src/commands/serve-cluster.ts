/**
 * `herald serve --workers N`: one hub on N processes (node:cluster). Every worker is a whole
 * hub (streams, publishes, its own node tail) on the shared port; the primary only forks,
 * replaces crashed workers, adds up `/metrics`, relays the dashboard's view of every
 * worker (serve-cluster-dashboard.ts) and relays SIGTERM.
 *
 * The log is shared, not owned: each worker opens the store itself (SQLite in WAL mode
 * across processes, or Redis/NATS), so ids are ordered across workers by the store and
 * every worker's tail delivers every event in log order. A subscriber resumes on any worker.
 * (Why not a primary-owned store: every publish and every replay page would then cross IPC
 * twice and serialise through one process, the bottleneck `--workers` exists to remove;
 * SQLite's write lock already serialises appends, each held for one short transaction per
 * event-loop turn.)
 */
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import { HeraldError } from '@herald/protocol'
import { AggregatorRegistry, type Registry } from 'prom-client'
import { createPrimaryDashboard, isDashboardMessage } from './serve-cluster-dashboard.js'

/** Messages between the primary and its workers. */
type ClusterMessage =
  | { herald: 'listening'; url: string }
  | { herald: 'metrics'; id: number }
  | { herald: 'metrics-answer'; id: number; text?: string; error?: string }

function isMessage(value: unknown): value is ClusterMessage {
  return typeof value === 'object' && value !== null && 'herald' in value
}

/**
 * Parses `--workers`: a positive integer, or `auto` (the machine's available parallelism).
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG`.
 */
export function parseWorkers(value: string): number {
  if (value === 'auto') return Math.max(1, availableParallelism())
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > 256) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `--workers (HERALD_WORKERS): expected an integer from 1 to 256 or auto, got ${JSON.stringify(value)}`,
    )
  }
  return n
}

/** `true` in a worker process forked by {@link runPrimary}. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env.HERALD_CLUSTER_WORKER === '1'
}

/** Worker side: tells the primary this worker listens on `url`. */
export function reportListening(url: string): void {
  process.send?.({ herald: 'listening', url } satisfies ClusterMessage)
}

/**
 * Worker side: makes `registry` part of the primary's aggregate, and returns what `/metrics`
 * serves: the sum over every worker, fetched from the primary.
 */
export function clusterMetrics(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry])
  // Constructing one installs prom-client's worker-side listener for the primary's requests.
  new AggregatorRegistry()
  let next = 0
  const waiting = new Map<number, { resolve(text: string): void; reject(error: Error): void }>()
  process.on('message', (message: unknown) => {
    if (!isMessage(message) || message.herald !== 'metrics-answer') return
    const pending = waiting.get(message.id)
    waiting.delete(message.id)
    if (message.text !== undefined) pending?.resolve(message.text)
    else pending?.reject(new Error(message.error ?? 'the primary could not aggregate metrics'))
  })
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++
      waiting.set(id, { resolve, reject })
      process.send?.({ herald: 'metrics', id } satisfies ClusterMessage)
      setTimeout(() => {
        if (!waiting.delete(id)) return
        reject(new Error('the primary did not answer the metrics request within 5 s'))
      }, 5000).unref()
    })
}

/** Logs of the primary (one JSON line each, on stderr, as the workers' pino lines). */
function log(
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields: Record<string, unknown> = {},
): void {
  const levels = { info: 30, warn: 40, error: 50 }
  process.stderr.write(
    `${JSON.stringify({ level: levels[level], time: Date.now(), pid: process.pid, role: 'primary', ...fields, msg })}\n`,
  )
}

/**
 * Primary side: forks `count` workers running this same command, prints
 * `herald listening on URL` once all listen, replaces a worker that dies, and on SIGTERM or
 * SIGINT drains every worker (each drains its own streams) and resolves to 0 once all exited
 * cleanly. A worker that fails before it listens (bad config, store unavailable) stops the
 * whole cluster with its exit code.
 */
export function runPrimary(count: number, logLevel: string): Promise<number> {
  const aggregator = new AggregatorRegistry()
  const quiet = !['trace', 'debug', 'info'].includes(logLevel)
  const listening = new Set<Worker>()
  const dashboard = createPrimaryDashboard(() =>
    Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined),
  )
  let announced = false
  let stopping = false
  let exitCode = 0
  let done: ((code: number) => void) | undefined
  const finished = new Promise<number>((resolve) => {
    done = resolve
  }).finally(() => dashboard.close())

  function fork(): Worker {
    const worker = cluster.fork({ HERALD_CLUSTER_WORKER: '1' })
    worker.on('message', (message: unknown) => {
      if (isDashboardMessage(message)) {
        dashboard.handle(worker, message)
        return
      }
      if (!isMessage(message)) return
      if (message.herald === 'listening') {
        listening.add(worker)
        if (!announced && listening.size === count) {
          announced = true
          if (!quiet) log('info', 'all workers listening', { workers: count, url: message.url })
          process.stdout.write(`herald listening on ${message.url}\n`)
        }
      } else if (message.herald === 'metrics') {
        aggregator.clusterMetrics().then(
          (text) => worker.send({ herald: 'metrics-answer', id: message.id, text }),
          (error: Error) =>
            worker.send({ herald: 'metrics-answer', id: message.id, error: error.message }),
        )
      }
    })
    return worker
  }

  cluster.on('exit', (worker, code, signal) => {
    const wasListening = listening.delete(worker)
    dashboard.forget(worker)
    if (stopping) {
      if (code !== 0) exitCode = 1
      if (Object.keys(cluster.workers ?? {}).length === 0) done?.(exitCode)
      return
    }
    if (!wasListening) {
      // Startup failure: forking again would fail the same way.
      log('error', 'a worker failed to start: stopping', { code, signal })
      stop(typeof code === 'number' && code !== 0 ? code : 1)
      return
    }
    log('error', 'a worker died: starting a replacement', { pid: worker.process.pid, code, signal })
    fork()
  })

  function stop(code = 0): void {
    if (stopping) return
    stopping = true
    exitCode = code
    const workers = Object.values(cluster.workers ?? {})
    if (workers.length === 0) {
      done?.(exitCode)
      return
    }
    for (const worker of workers) worker?.process.kill('SIGTERM')
  }

  process.once('SIGTERM', () => stop())
  process.once('SIGINT', () => stop())
  for (let i = 0; i < count; i++) fork()
  return finished
}
