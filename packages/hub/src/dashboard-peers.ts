/**
 * The dashboard across the processes of one hub (`herald serve --workers N`): what each
 * process tells the others once a tick, how the figures add up to a total, and how one page
 * of the clients table is cut from every process's clients. Free of transport: the CLI
 * carries the reports and the page requests over the cluster's IPC channel.
 */
import type { ClientsPage, ClientsQuery } from './dashboard-api.js'
import type { NodeStats, StoreStats, TopicCount } from './stats.js'
import { quantileFromBuckets } from './stats.js'

/** What one process tells the others once a tick. */
export interface NodeReport {
  readonly stats: NodeStats
  /**
   * Publish-to-queue latencies observed over the quantile window: counts by bucket upper
   * bound in seconds (`"+Inf"` for the last), cumulative as in Prometheus. The total's
   * quantiles come from their sum, not from an average of quantiles.
   */
  readonly latencyBuckets: Readonly<Record<string, number>>
  /** A dashboard is open on that process (so every process probes its store). */
  readonly watched: boolean
  /** Its busiest requested topics by subscribers (at most {@link REPORTED_TOPICS}), while watched. */
  readonly bySubscribers?: readonly TopicCount[] | undefined
}

/** Topics by subscriber count each process reports; the page ranks the sum of these. */
export const REPORTED_TOPICS = 100

/**
 * The other processes of this hub, as the dashboard sees them. `herald serve --workers`
 * gives each worker one (over the cluster's IPC); a hub without it reports itself only.
 */
export interface DashboardPeers {
  /** Hands this process's report to the others (once a tick). */
  share(report: NodeReport): void
  /** The latest report of every other live process. */
  others(): readonly NodeReport[]
  /** One page of the clients of every process, this one included (see {@link planClientPages}). */
  clients(query: ClientsQuery): Promise<ClientsPage>
}

let collator: Intl.Collator | undefined

/**
 * Node names in a stable, human order (`host:99` before `host:100`).
 *
 * The collator is made on the first comparison, not when the module loads: building an
 * `Intl.Collator` makes V8 list ICU's collation locales, which faults about 2.7 MiB of ICU data
 * (`coll/*.res`) into the RSS of every `herald serve`, though only the dashboard ever sorts nodes.
 */
export function compareNodes(a: string, b: string): number {
  collator ??= new Intl.Collator('en', { numeric: true })
  return collator.compare(a, b)
}

/** Cumulative bucket counts as {@link NodeReport.latencyBuckets} carries them. */
export function bucketsToRecord(
  buckets: ReadonlyArray<readonly [number, number]>,
): Record<string, number> {
  const record: Record<string, number> = {}
  for (const [le, n] of buckets) record[Number.isFinite(le) ? String(le) : '+Inf'] = n
  return record
}

function recordToBuckets(record: Readonly<Record<string, number>>): Array<[number, number]> {
  return Object.entries(record)
    .map(([le, n]): [number, number] => [le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), n])
    .sort((a, b) => a[0] - b[0])
}

function sum(reports: readonly NodeReport[], pick: (n: NodeStats) => number): number {
  let s = 0
  for (const r of reports) s += pick(r.stats)
  return s
}

function worst(values: ReadonlyArray<number | null>): number | null {
  let w: number | null = null
  for (const v of values) if (v !== null && (w === null || v > w)) w = v
  return w
}

/** Fixed-width or numeric cursors: the longer, then the larger, is the newer. */
function isNewer(a: string, b: string): boolean {
  return a.length > b.length || (a.length === b.length && a > b)
}

/** The newest (or, with `oldest`, the oldest) of the known ids. */
function pick(ids: ReadonlyArray<string | null>, oldest = false): string | null {
  let best: string | null = null
  for (const id of ids) {
    if (id !== null && (best === null || isNewer(id, best) !== oldest)) best = id
  }
  return best
}

function storeTotal(stores: readonly StoreStats[]): StoreStats {
  const probed = stores.filter((s) => s.ok !== null)
  return {
    ok: probed.length === 0 ? null : probed.every((s) => s.ok === true),
    latencyMs: worst(stores.map((s) => s.latencyMs)),
    latestId: pick(stores.map((s) => s.latestId)),
    // The slowest process is the one that matters: the oldest delivered id, the worst lag.
    deliveredId: pick(
      stores.map((s) => s.deliveredId),
      true,
    ),
    lagEvents: worst(stores.map((s) => s.lagEvents)),
  }
}

/**
 * The whole hub as one node named `total`: counts, rates and memory summed; latency
 * quantiles from the summed buckets; the store `ok` only when every process that probed it
 * says so, with the worst probe time and the worst lag.
 */
export function totalOf(reports: readonly NodeReport[]): NodeStats {
  const merged = new Map<number, number>()
  for (const r of reports) {
    for (const [le, n] of recordToBuckets(r.latencyBuckets))
      merged.set(le, (merged.get(le) ?? 0) + n)
  }
  const buckets = [...merged].sort((a, b) => a[0] - b[0])
  const ms = (q: number): number | null => {
    const s = quantileFromBuckets([], buckets, q)
    return s === null ? null : s * 1000
  }
  return {
    node: 'total',
    connections: sum(reports, (n) => n.connections),
    subscribers: sum(reports, (n) => n.subscribers),
    publishedPerSec: sum(reports, (n) => n.publishedPerSec),
    deliveredPerSec: sum(reports, (n) => n.deliveredPerSec),
    replayedPerSec: sum(reports, (n) => n.replayedPerSec),
    publishErrorsPerSec: sum(reports, (n) => n.publishErrorsPerSec),
    latencyMs: { p50: ms(0.5), p95: ms(0.95), p99: ms(0.99) },
    slowConsumersClosed: sum(reports, (n) => n.slowConsumersClosed),
    resets: sum(reports, (n) => n.resets),
    replayed: sum(reports, (n) => n.replayed),
    store: storeTotal(reports.map((r) => r.stats.store)),
    memory: {
      rssBytes: sum(reports, (n) => n.memory.rssBytes),
      heapUsedBytes: sum(reports, (n) => n.memory.heapUsedBytes),
    },
  }
}

/** The top `n` of the summed counts of several rankings. */
export function mergeTopicCounts(
  lists: ReadonlyArray<readonly TopicCount[] | undefined>,
  n: number,
): TopicCount[] {
  const sums = new Map<string, number>()
  for (const list of lists) {
    for (const { topic, value } of list ?? []) sums.set(topic, (sums.get(topic) ?? 0) + value)
  }
  return [...sums]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([topic, value]) => ({ topic, value }))
}

/** How many clients one process has, and how many match the search. */
export interface NodeClientCount {
  readonly node: string
  readonly total: number
  readonly matched: number
}

/** The part of a cluster-wide page one process holds. */
export interface ClientPagePart {
  readonly node: string
  readonly offset: number
  readonly limit: number
}

/**
 * Cuts the page `[offset, offset + limit)` of every process's matching clients, taken node
 * after node (in `counts` order) and in connection order within a node, into the part each
 * process holds. Only the processes the page touches get a part: usually one, two at a seam.
 */
export function planClientPages(
  counts: readonly NodeClientCount[],
  offset: number,
  limit: number,
): ClientPagePart[] {
  const parts: ClientPagePart[] = []
  let before = 0
  let wanted = limit
  for (const c of counts) {
    const start = Math.max(0, offset - before)
    if (wanted > 0 && start < c.matched) {
      const take = Math.min(wanted, c.matched - start)
      parts.push({ node: c.node, offset: start, limit: take })
      wanted -= take
    }
    before += c.matched
  }
  return parts
}
