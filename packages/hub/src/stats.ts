/**
 * The dashboard's stats model: once a second, one sample of what this node does (rates,
 * latency quantiles, connections, store health and lag), read from the same prom-client
 * registry `/metrics` serves, so the dashboard and a Prometheus scrape never disagree. With
 * peers (the other workers of `herald serve --workers`), each sample holds every process's
 * figures and their total. A ring keeps the last minutes for the charts of a page opened
 * later. Nothing here runs per event or per subscriber except {@link HubStats.observe}, one
 * map increment per event.
 */

import { hostname } from 'node:os'
import type { StoredEvent, StoreHealth } from '@herald/store'
import { parseSequenceCursor } from '@herald/store'
import type { Counter, Histogram, Registry } from 'prom-client'
import type { DashboardPeers, NodeReport } from './dashboard-peers.js'
import {
  bucketsToRecord,
  compareNodes,
  mergeTopicCounts,
  REPORTED_TOPICS,
  totalOf,
} from './dashboard-peers.js'
import { quantileFromBuckets } from './quantile.js'

export { quantileFromBuckets } from './quantile.js'

/** Latency quantiles in milliseconds, `null` when no event was delivered in the window. */
export interface LatencyQuantiles {
  readonly p50: number | null
  readonly p95: number | null
  readonly p99: number | null
}

/** The store as this node sees it. */
export interface StoreStats {
  /** `false` when the last `health()` call failed or timed out; `null`: not probed yet. */
  readonly ok: boolean | null
  /** How long that call took, in ms. */
  readonly latencyMs: number | null
  /** Newest id the store issued. */
  readonly latestId: string | null
  /** Newest id this node delivered. */
  readonly deliveredId: string | null
  /** Events the store holds that this node has not delivered yet (sequence cursors only). */
  readonly lagEvents: number | null
}

/** One node's sample. Rates are per second over the last interval; totals since start. */
export interface NodeStats {
  /** Node name: `host:pid` unless the hub was given one. */
  readonly node: string
  /** Open event-stream connections (what `herald_connections` reports). */
  readonly connections: number
  /** Subscriptions in the fan-out. */
  readonly subscribers: number
  readonly publishedPerSec: number
  /** Live events queued to subscribers per second (one per subscriber per event). */
  readonly deliveredPerSec: number
  /** Events written during replays per second. */
  readonly replayedPerSec: number
  /** Publish requests refused per second. */
  readonly publishErrorsPerSec: number
  /** Publish-to-queue latency over the last few seconds, estimated from the histogram buckets. */
  readonly latencyMs: LatencyQuantiles
  /** Subscribers closed as slow consumers, since start. */
  readonly slowConsumersClosed: number
  /** `herald.reset` events sent, since start. */
  readonly resets: number
  /** Events replayed, since start. */
  readonly replayed: number
  readonly store: StoreStats
  /** Resident set size and JS heap in use, in bytes (0 where the runtime does not say). */
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number }
}

/** A topic (or requested pattern) with its count. */
export interface TopicCount {
  readonly topic: string
  readonly value: number
}

/** The busiest topics: private detail, only in samples for admins. */
export interface TopicStats {
  /** Requested topics and patterns by subscriber count. */
  readonly bySubscribers: readonly TopicCount[]
  /** Concrete topics by events per second (over the last few seconds). */
  readonly byRate: readonly TopicCount[]
}

/** One tick: a sample per node (one, or one per worker with `herald serve --workers`). */
export interface StatsSample {
  /** Milliseconds since the epoch. */
  readonly t: number
  /** One per process, in name order (a peer's figures are at most a tick or two old). */
  readonly nodes: readonly NodeStats[]
  /**
   * The whole hub, named `total`: counts and rates summed over `nodes`, latency quantiles
   * from their summed histogram buckets, the store's worst probe and lag.
   */
  readonly total: NodeStats
  /** Present for admins only. */
  readonly topics?: TopicStats | undefined
}

/** What a dashboard receives first: who it is talking to, and the recent history. */
export interface StatsSnapshot {
  readonly version: 1
  readonly node: string
  readonly startedAt: number
  readonly intervalMs: number
  /** `true` when the caller holds the admin grant (or no gate is configured). */
  readonly admin: boolean
  /** `true` when an admin grant is needed for the private views. */
  readonly gated: boolean
  /** Oldest first; never carries `topics`. */
  readonly history: readonly StatsSample[]
}

/** Options of {@link createHubStats}. */
export interface HubStatsOptions {
  /** The hub's registry (its counters and histograms are read by name). */
  readonly registry: Registry
  /** Node name. Default `host:pid` where the runtime has them. */
  readonly node?: string | undefined
  readonly connections: () => number
  readonly subscribers: () => number
  readonly countByTopic: () => Map<string, number>
  /** Probes the store (`store.health()`); called once per tick while someone watches. */
  readonly health: () => Promise<StoreHealth>
  /** Default 1000. */
  readonly intervalMs?: number | undefined
  /** Samples kept for late viewers. Default 600 (10 minutes at 1 s). */
  readonly historySize?: number | undefined
  /** Topics listed per ranking. Default 10. */
  readonly topTopics?: number | undefined
  /** The hub's other processes (`herald serve --workers`); without it, this process only. */
  readonly peers?: DashboardPeers | undefined
}

/** A watcher of the stats: called once per tick. */
export type StatsListener = (sample: StatsSample) => void

/** The node's stats. */
export interface HubStats {
  /** Counts a dispatched batch (per-topic rate, newest delivered id). */
  observe(events: readonly StoredEvent[]): void
  /** What a new viewer gets first (node names withheld from non-admins). */
  snapshot(access: { admin: boolean; gated: boolean }): StatsSnapshot
  /**
   * Calls `listener` once per tick until the returned function is called. `admin` listeners
   * get the topic rankings and node names too.
   */
  watch(listener: StatsListener, admin: boolean): () => void
  /** Takes one sample now, with the peers' latest figures (tests, and the first tick). */
  sample(): Promise<StatsSample>
  /** Stops the ticker. */
  close(): void
}

/** Samples of the rate window: topic rates and latency quantiles span this many ticks. */
const WINDOW_TICKS = 5
/** Distinct topics counted per tick; beyond it new topics are summed as `_other`. */
const MAX_RATE_TOPICS = 10_000
const PROBE_TIMEOUT_MS = 2000

function defaultNodeName(): string {
  const proc = (globalThis as { process?: { pid?: number; env?: Record<string, string> } }).process
  const host = hostname()
  return proc?.pid === undefined ? host : `${host}:${proc.pid}`
}

function memory(): { rssBytes: number; heapUsedBytes: number } {
  const proc = (
    globalThis as {
      process?: { memoryUsage?: () => { rss: number; heapUsed: number } }
    }
  ).process
  try {
    const usage = proc?.memoryUsage?.()
    if (usage !== undefined) return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed }
  } catch {}
  return { rssBytes: 0, heapUsedBytes: 0 }
}

/** Sum of a counter's values over all label sets (0 when the metric is absent). */
async function total(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name) as Counter | undefined
  if (metric === undefined) return 0
  const { values } = await metric.get()
  let sum = 0
  for (const v of values) sum += v.value
  return sum
}

/** Cumulative bucket counts of a histogram, by upper bound (`Infinity` last). */
async function buckets(registry: Registry, name: string): Promise<Array<[number, number]>> {
  const metric = registry.getSingleMetric(name) as Histogram | undefined
  if (metric === undefined) return []
  const { values } = await metric.get()
  const byBound = new Map<number, number>()
  for (const v of values) {
    if (v.metricName !== `${name}_bucket`) continue
    const le = v.labels.le
    const bound = le === '+Inf' || le === undefined ? Number.POSITIVE_INFINITY : Number(le)
    byBound.set(bound, (byBound.get(bound) ?? 0) + v.value)
  }
  return [...byBound].sort((a, b) => a[0] - b[0])
}

/** A sample for a viewer without the admin grant: node names (host, pid) withheld. */
function withoutNames(sample: StatsSample): StatsSample {
  return {
    t: sample.t,
    nodes: sample.nodes.map((n, i) => ({ ...n, node: `node ${i + 1}` })),
    total: sample.total,
  }
}

function top(map: Map<string, number>, n: number, scale = 1): TopicCount[] {
  return [...map]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([topic, value]) => ({ topic, value: value * scale }))
}

/** Creates the stats model and starts its ticker (unref'd: it never keeps a process alive). */
export function createHubStats(options: HubStatsOptions): HubStats {
  const { registry } = options
  const node = options.node ?? defaultNodeName()
  const intervalMs = options.intervalMs ?? 1000
  const historySize = options.historySize ?? 600
  const topN = options.topTopics ?? 10
  const startedAt = Date.now()
  const history: StatsSample[] = []
  const listeners = new Map<StatsListener, boolean>()

  let rateCounts = new Map<string, number>()
  const rateWindow: Array<Map<string, number>> = []
  const latencyWindow: Array<Array<[number, number]>> = []
  let deliveredId: string | undefined
  let previous: { at: number; totals: number[] } | undefined
  let store: StoreStats = {
    ok: null,
    latencyMs: null,
    latestId: null,
    deliveredId: null,
    lagEvents: null,
  }
  let probing = false

  async function probe(): Promise<void> {
    if (probing) return
    probing = true
    const started = performance.now()
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      const health = await Promise.race([
        options.health(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), PROBE_TIMEOUT_MS)
        }),
      ])
      if (!health.ok) throw new Error(health.reason)
      const latest = health.latestId
      const latestSeq = latest === undefined ? undefined : parseSequenceCursor(latest)
      const deliveredSeq =
        deliveredId === undefined
          ? latestSeq === undefined
            ? undefined
            : 0
          : parseSequenceCursor(deliveredId)
      store = {
        ok: true,
        latencyMs: performance.now() - started,
        latestId: latest ?? null,
        deliveredId: deliveredId ?? null,
        lagEvents:
          latestSeq === undefined || deliveredSeq === undefined
            ? latest === undefined
              ? 0
              : null
            : Math.max(0, latestSeq - deliveredSeq),
      }
    } catch {
      store = { ...store, ok: false, latencyMs: performance.now() - started }
    } finally {
      if (timer !== undefined) clearTimeout(timer)
      probing = false
    }
  }

  /** This process's figures, and its latency buckets over the window. */
  async function sampleLocal(): Promise<{
    stats: NodeStats
    latencyBuckets: Record<string, number>
  }> {
    const now = performance.now()
    const totals = await Promise.all([
      total(registry, 'herald_events_published_total'),
      total(registry, 'herald_events_delivered_total'),
      total(registry, 'herald_events_replayed_total'),
      total(registry, 'herald_publish_errors_total'),
      total(registry, 'herald_slow_consumers_closed_total'),
      total(registry, 'herald_resets_total'),
    ])
    const latency = await buckets(registry, 'herald_publish_to_write_seconds')
    latencyWindow.push(latency)
    if (latencyWindow.length > WINDOW_TICKS + 1) latencyWindow.shift()
    rateWindow.push(rateCounts)
    if (rateWindow.length > WINDOW_TICKS) rateWindow.shift()
    rateCounts = new Map()
    const seconds = previous === undefined ? 0 : (now - previous.at) / 1000
    const rate = (i: number): number =>
      previous === undefined || seconds <= 0
        ? 0
        : Math.max(0, ((totals[i] ?? 0) - (previous.totals[i] ?? 0)) / seconds)
    const oldest = latencyWindow[0] ?? []
    const before = new Map(oldest)
    const windowBuckets = latency.map(([le, c]): [number, number] => [
      le,
      Math.max(0, c - (before.get(le) ?? 0)),
    ])
    const ms = (q: number): number | null => {
      const s = quantileFromBuckets(oldest, latency, q)
      return s === null ? null : s * 1000
    }
    const stats: NodeStats = {
      node,
      connections: options.connections(),
      subscribers: options.subscribers(),
      publishedPerSec: rate(0),
      deliveredPerSec: rate(1),
      replayedPerSec: rate(2),
      publishErrorsPerSec: rate(3),
      latencyMs: { p50: ms(0.5), p95: ms(0.95), p99: ms(0.99) },
      slowConsumersClosed: totals[4] ?? 0,
      resets: totals[5] ?? 0,
      replayed: totals[2] ?? 0,
      store,
      memory: memory(),
    }
    previous = { at: now, totals }
    return { stats, latencyBuckets: bucketsToRecord(windowBuckets) }
  }

  /** A dashboard is open here, or on a peer (then this process probes its store too). */
  function watched(): boolean {
    return listeners.size > 0 || (options.peers?.others().some((r) => r.watched) ?? false)
  }

  let lastReports: readonly NodeReport[] = []

  async function sample(): Promise<StatsSample> {
    const local = await sampleLocal()
    const report: NodeReport = {
      ...local,
      watched: listeners.size > 0,
      ...(watched() && options.peers !== undefined
        ? { bySubscribers: top(options.countByTopic(), REPORTED_TOPICS) }
        : {}),
    }
    options.peers?.share(report)
    const reports = [report, ...(options.peers?.others() ?? [])].sort((a, b) =>
      compareNodes(a.stats.node, b.stats.node),
    )
    lastReports = reports
    return {
      t: Date.now(),
      nodes: reports.map((r) => r.stats),
      total: reports.length === 1 ? { ...local.stats, node: 'total' } : totalOf(reports),
    }
  }

  function topics(): TopicStats {
    const window = new Map<string, number>()
    for (const counts of rateWindow) {
      for (const [topic, n] of counts) window.set(topic, (window.get(topic) ?? 0) + n)
    }
    const seconds = Math.max(1, rateWindow.length) * (intervalMs / 1000)
    return {
      // Over the workers: each one's busiest, summed. By rate needs no peers: every worker's
      // tail reads the whole log, so this process counts every event.
      bySubscribers:
        lastReports.length > 1
          ? mergeTopicCounts(
              lastReports.map((r) => r.bySubscribers),
              topN,
            )
          : top(options.countByTopic(), topN),
      byRate: top(window, topN, 1 / seconds),
    }
  }

  let ticking = false
  async function tick(): Promise<void> {
    if (ticking) return
    ticking = true
    try {
      if (watched()) await probe()
      const next = await sample()
      history.push(next)
      if (history.length > historySize) history.shift()
      if (listeners.size === 0) return
      let withTopics: StatsSample | undefined
      let anonymous: StatsSample | undefined
      for (const [listener, admin] of listeners) {
        try {
          if (admin) {
            withTopics ??= { ...next, topics: topics() }
            listener(withTopics)
          } else {
            anonymous ??= withoutNames(next)
            listener(anonymous)
          }
        } catch {}
      }
    } finally {
      ticking = false
    }
  }

  const timer = setInterval(() => void tick(), intervalMs)
  ;(timer as { unref?: () => void }).unref?.()
  void tick()

  return {
    observe(events) {
      for (const event of events) {
        const n = rateCounts.get(event.topic)
        if (n !== undefined) rateCounts.set(event.topic, n + 1)
        else if (rateCounts.size < MAX_RATE_TOPICS) rateCounts.set(event.topic, 1)
        else rateCounts.set('_other', (rateCounts.get('_other') ?? 0) + 1)
      }
      const last = events.at(-1)
      if (last !== undefined) deliveredId = last.id
    },
    snapshot({ admin, gated }) {
      return {
        version: 1,
        node: admin ? node : '',
        startedAt,
        intervalMs,
        admin,
        gated,
        history: admin ? [...history] : history.map(withoutNames),
      }
    },
    watch(listener, admin) {
      listeners.set(listener, admin)
      return () => {
        listeners.delete(listener)
      }
    },
    sample,
    close() {
      clearInterval(timer)
      listeners.clear()
    },
  }
}
