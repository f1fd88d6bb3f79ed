/**
 * The `herald chaos` engine: hub processes it starts and kills, a fault proxy in the path,
 * @herald/client subscribers, an acknowledged publisher; faults while events flow; then the
 * check of every subscriber against the exact published sequence.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import {
  BUCKETS,
  bucketLowMs,
  bucketOf,
  createLatencyHistogram,
  recordMs,
  summarize,
} from '../bench/latency.js'
import { monotonicMs } from '../bench/payload.js'
import { type ChaosPublisher, startChaosPublisher } from './chaos-publisher.js'
import { type ChaosSubscriber, startChaosSubscriber } from './chaos-subscriber.js'
import { createFaultProxy, type FaultProxy } from './fault-proxy.js'
import { applicableFaults, type FaultKind, type FaultRecord, runFault } from './faults.js'
import { createHubNodes, type HubNodes } from './hub-nodes.js'
import { readLog } from './read-log.js'
import { type ChaosCheck, checkSubscribers } from './verdict.js'

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** `sqlite` (a temporary file), `sqlite:PATH`, `memory`, `redis://...`, `nats://...`. */
  store: string
  /** `--workers N` for every node. */
  workers?: number | undefined
  /** Hub nodes (default 1; 3 with a Redis or NATS store). */
  nodes?: number | undefined
  duration: number
  subscribers: number
  rate: number
  payload: number
  /** Faults to inject, in turn (default: every one that applies). */
  faults?: readonly FaultKind[] | undefined
  /** Replaces `herald serve` (gets HERALD_PORT and HERALD_STORE). */
  serveCommand?: string | undefined
  /** Longest a held fault lasts, seconds (default: fits the duration, 2..6). */
  hold?: number | undefined
  /** Memory tolerance: the end RSS may exceed the baseline by this factor. Default 1.5. */
  memoryFactor?: number
  onProgress?: (line: string) => void
}

/** The run's result. JSON field names are a public contract. */
export interface ChaosResult extends ChaosCheck {
  ok: boolean
  store: string
  nodes: number
  workers: number | null
  durationS: number
  rate: number
  published: number
  publishRetries: number
  deliveriesPerSec: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  subscribers: number
  reconnects: number
  faults: FaultRecord[]
  maxRecoveryMs: number | null
  logEvents: number | null
  ackedMissingFromLog: number | null
  memory: { baselineMb: number; endMb: number; limitMb: number; ok: boolean } | null
  failures: string[]
  /** Latency distribution for the report: `[bucketLowMs, count]`. */
  histogram: Array<[number, number]>
  timeline: Array<{
    t: number
    deliveriesPerSec: number
    p99Ms: number
    connected: number
    hubRssMb: number | null
    publishedPerSec: number
  }>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10
const TOPIC = 'chaos'
const INACTIVITY_MS = 2500
/** Longest wait for the subscribers to recover from the last fault. */
const RECOVERY_S = 30

/**
 * Rewrites a broker URL to go through `proxyPort`, in a namespace of its own unless one is
 * given (each run starts from an empty log and leaves other users' data alone).
 */
function viaProxy(store: string, proxyPort: number, runId: string): string {
  const url = new URL(store)
  if (!url.searchParams.has('namespace')) url.searchParams.set('namespace', runId)
  const auth =
    url.username === '' ? '' : `${url.username}${url.password === '' ? '' : `:${url.password}`}@`
  const path = url.pathname === '/' ? '' : url.pathname
  return `${url.protocol}//${auth}127.0.0.1:${proxyPort}${path}${url.search}`
}

/** Runs one chaos soak. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const broker = /^(redis|rediss|nats):\/\//.test(options.store)
  const nodeCount = options.nodes ?? (broker ? 3 : 1)
  let dir: string | undefined
  let store = options.store
  if (store === 'sqlite') {
    dir = mkdtempSync(join(os.tmpdir(), 'herald-chaos-'))
    store = `sqlite:${join(dir, 'herald.db')}`
  }
  const kinds =
    options.faults ??
    applicableFaults({ workers: options.workers !== undefined, broker, nodes: nodeCount })
  const log = options.onProgress ?? (() => {})
  const runId = `chaos-${process.pid}-${Date.now()}`

  let brokerProxy: FaultProxy | undefined
  let proxy: FaultProxy | undefined
  let nodes: HubNodes | undefined
  let publisher: ChaosPublisher | undefined
  const subscribers: ChaosSubscriber[] = []
  const faults: FaultRecord[] = []
  const timeline: ChaosResult['timeline'] = []
  try {
    let nodeStore = store
    if (broker) {
      const target = new URL(store)
      brokerProxy = await createFaultProxy({
        upstreams: () => [
          {
            host: target.hostname,
            port: Number(target.port || (target.protocol.startsWith('nats') ? 4222 : 6379)),
          },
        ],
      })
      nodeStore = viaProxy(store, brokerProxy.port, runId)
    }
    nodes = await createHubNodes({
      nodes: nodeCount,
      store: nodeStore,
      workers: options.workers,
      serveCommand: options.serveCommand,
      serveArgs: [],
    })
    const hub = nodes
    await hub.startAll()
    proxy = await createFaultProxy({
      upstreams: () =>
        hub.list.filter((n) => n.up).map((n) => ({ host: '127.0.0.1', port: n.port })),
    })
    const proxied = new URL(`http://127.0.0.1:${proxy.port}/events?topic=${TOPIC}`)
    for (let i = 0; i < options.subscribers; i++) {
      // Three in four through the fault proxy; the rest straight to a node.
      const direct = i % 4 === 3
      const url = direct
        ? new URL(`http://127.0.0.1:${hub.list[i % nodeCount]?.port}/events?topic=${TOPIC}`)
        : proxied
      subscribers.push(
        startChaosSubscriber({
          name: `${direct ? 'direct' : 'proxied'}-${i + 1}`,
          url,
          inactivityTimeoutMs: INACTIVITY_MS,
        }),
      )
    }
    const openBy = performance.now() + 15_000
    while (subscribers.some((s) => s.record.opens === 0) && performance.now() < openBy)
      await sleep(50)
    const notOpen = subscribers.filter((s) => s.record.opens === 0).length
    if (notOpen > 0)
      throw new Error(`${notOpen} subscribers could not connect; hub log:\n${hub.list[0]?.log()}`)
    await sleep(1000)
    const baseline = hub.rssBytes()

    let turn = 0
    const publishTarget = () => {
      const up = hub.list.filter((n) => n.up)
      const node = up.length === 0 ? hub.list[0] : up[turn++ % up.length]
      return new URL(`http://127.0.0.1:${node?.port}/publish`)
    }
    const t0 = monotonicMs()
    const seconds = () => (monotonicMs() - t0) / 1000
    publisher = startChaosPublisher({
      target: publishTarget,
      topic: TOPIC,
      rate: options.rate,
      payload: options.payload,
      runId,
    })
    const pub = publisher

    // Timeline: once a second.
    const seen = subscribers.map(() => 0)
    let lastAcked = 0
    const sampler = setInterval(() => {
      const second = createLatencyHistogram()
      let deliveries = 0
      const acked = pub.acked
      const sentAt = new Map<number, number>()
      for (let k = acked.length - 1; k >= 0 && k >= acked.length - options.rate * 30; k--) {
        const r = acked[k]
        if (r !== undefined) sentAt.set(r.seq, r.firstAttemptMs)
      }
      subscribers.forEach((s, i) => {
        const { seqs, times } = s.record
        for (let k = seen[i] as number; k < seqs.length; k++) {
          deliveries++
          const sent = sentAt.get(seqs[k] as number)
          if (sent !== undefined) recordMs(second, (times[k] as number) - sent)
        }
        seen[i] = seqs.length
      })
      const rss = hub.rssBytes()
      timeline.push({
        t: timeline.length + 1,
        deliveriesPerSec: deliveries,
        p99Ms: summarize(second).p99Ms,
        connected: proxy?.connections ?? 0,
        hubRssMb: rss === 0 ? null : mb(rss),
        publishedPerSec: acked.length - lastAcked,
      })
      lastAcked = acked.length
      const current = faults.at(-1)
      const active = current !== undefined && current.endS === -1 ? ` fault: ${current.kind}` : ''
      log(
        `${Math.round(seconds())}s  ${acked.length} published  ${deliveries} deliveries/s${active}`,
      )
    }, 1000)

    // Faults, in turn, spread over the run; the first 2 s and the last 3 s stay clean.
    const usable = options.duration - 5
    const slot = Math.max(2.5, Math.min(8, usable / Math.max(1, kinds.length)))
    const holdMs = (options.hold ?? Math.max(1.5, Math.min(6, slot * 0.6))) * 1000
    const ctx = {
      proxy,
      nodes: hub,
      brokerProxy,
      holdMs,
      inactivityTimeoutMs: INACTIVITY_MS,
      nodeTurn: 0,
    }
    await sleep(2000)
    for (let k = 0; kinds.length > 0; k++) {
      const kind = kinds[k % kinds.length] as FaultKind
      const slotStart = 2 + k * slot
      if (slotStart + slot > options.duration - 3 + 0.01) break
      const wait = slotStart - seconds()
      if (wait > 0) await sleep(wait * 1000)
      const record: FaultRecord = {
        kind,
        startS: round1(seconds()),
        endS: -1,
        detail: '',
        recoveryMs: null,
      }
      faults.push(record)
      try {
        record.detail = await runFault(kind, ctx)
      } catch (error) {
        record.detail = `fault failed: ${(error as Error).message}`
      }
      record.endS = round1(seconds())
    }
    // Publishing goes on past the last fault's end (a restart may outlast its slot) until an
    // event published after it reached every subscriber, for up to RECOVERY_S: every fault
    // then has events after it to measure its recovery by, and one that never recovers fails.
    const lastEndMs = t0 + (faults.at(-1)?.endS ?? 0) * 1000
    const recovered = () => {
      const after = pub.acked.find((r) => r.firstAttemptMs >= lastEndMs)
      return after !== undefined && subscribers.every((s) => s.record.seqs.includes(after.seq))
    }
    const left = options.duration - seconds()
    if (left > 0) await sleep(left * 1000)
    while (!recovered() && monotonicMs() < lastEndMs + RECOVERY_S * 1000) await sleep(200)

    // Heal everything, stop publishing, let every subscriber catch up.
    proxy.setMode({ kind: 'pass' })
    brokerProxy?.setMode({ kind: 'pass' })
    for (const node of hub.list) if (!node.up) await hub.restart(node.index)
    await pub.stop()
    const lastSeq = pub.acked.at(-1)?.seq ?? 0
    const catchUpBy = performance.now() + 20_000
    while (performance.now() < catchUpBy) {
      if (subscribers.every((s) => s.record.seqs.includes(lastSeq))) break
      await sleep(100)
    }
    await sleep(500)
    clearInterval(sampler)
    const logContents = await readLog(
      new URL(`http://127.0.0.1:${hub.list[0]?.port}/events?topic=${TOPIC}`),
    )
    await sleep(1500)
    const end = hub.rssBytes()
    for (const s of subscribers) await s.stop()

    // The verdict.
    const check = checkSubscribers(
      subscribers.map((s) => s.record),
      pub.acked,
      logContents,
    )
    const ackSeq = new Map(pub.acked.map((r) => [r.seq, r]))
    const latency = createLatencyHistogram()
    const buckets = new Array<number>(BUCKETS).fill(0)
    let deliveries = 0
    for (const s of subscribers) {
      const { seqs, times } = s.record
      for (let k = 0; k < seqs.length; k++) {
        const sent = ackSeq.get(seqs[k] as number)
        deliveries++
        if (sent === undefined) continue
        const ms = (times[k] as number) - sent.firstAttemptMs
        recordMs(latency, ms)
        buckets[bucketOf(ms)] = (buckets[bucketOf(ms)] ?? 0) + 1
      }
    }
    const first = buckets.findIndex((c) => c > 0)
    let last = buckets.length - 1
    while (last > 0 && buckets[last] === 0) last--
    const histogram: Array<[number, number]> =
      first < 0
        ? []
        : buckets
            .slice(first, last + 1)
            .map((c, i) => [Math.round(bucketLowMs(first + i) * 1e4) / 1e4, c])
    for (const f of faults) {
      const endMs = t0 + f.endS * 1000
      const first = pub.acked.find((r) => r.firstAttemptMs >= endMs)
      if (first === undefined) continue
      let worst = 0
      let all = true
      for (const s of subscribers) {
        const k = s.record.seqs.indexOf(first.seq)
        if (k < 0) {
          all = false
          break
        }
        worst = Math.max(worst, (s.record.times[k] as number) - endMs)
      }
      f.recoveryMs = all ? Math.round(worst) : null
    }
    const lat = summarize(latency)
    const factor = options.memoryFactor ?? 1.5
    const limit = baseline * factor + 16 * 2 ** 20
    const memory =
      baseline === 0
        ? null
        : { baselineMb: mb(baseline), endMb: mb(end), limitMb: mb(limit), ok: end <= limit }
    const ackedMissing = logContents.readable
      ? pub.acked.filter((r) => !logContents.seqs.includes(r.seq)).length
      : null
    const recoveries = faults.map((f) => f.recoveryMs).filter((v): v is number => v !== null)
    const result: ChaosResult = {
      ok: true,
      store: options.store,
      nodes: nodeCount,
      workers: options.workers ?? null,
      durationS: options.duration,
      rate: options.rate,
      published: pub.acked.length,
      publishRetries: pub.failedAttempts,
      deliveriesPerSec: Math.round(deliveries / options.duration),
      p50Ms: lat.p50Ms,
      p95Ms: lat.p95Ms,
      p99Ms: lat.p99Ms,
      maxMs: lat.maxMs,
      subscribers: subscribers.length,
      reconnects: subscribers.reduce((n, s) => n + Math.max(0, s.record.opens - 1), 0),
      ...check,
      faults,
      maxRecoveryMs: recoveries.length === 0 ? null : Math.max(...recoveries),
      logEvents: logContents.readable ? logContents.seqs.length : null,
      ackedMissingFromLog: ackedMissing,
      memory,
      failures: [],
      histogram,
      timeline,
    }
    if (result.lost > 0)
      result.failures.push(
        `${result.lost} events lost (${result.lossySubscribers} of ${result.subscribers} subscribers)`,
      )
    if (result.duplicated > 0) result.failures.push(`${result.duplicated} duplicates after dedupe`)
    if (result.outOfOrder > 0) result.failures.push(`${result.outOfOrder} events out of order`)
    if (ackedMissing !== null && ackedMissing > 0)
      result.failures.push(`${ackedMissing} acknowledged publishes missing from the log`)
    if (!logContents.readable && result.published > 0)
      result.failures.push('the log could not be replayed from the start (earliest)')
    if (result.published === 0) result.failures.push('nothing could be published')
    for (const f of faults)
      if (f.recoveryMs === null && f.kind !== 'worker-kill')
        result.failures.push(`no recovery within ${RECOVERY_S} s after ${f.kind} at ${f.startS}s`)
    if (memory !== null && !memory.ok)
      result.failures.push(
        `hub memory ${memory.endMb} MB did not come back under ${memory.limitMb} MB (baseline ${memory.baselineMb} MB)`,
      )
    const fatal = subscribers.find((s) => s.record.fatal !== undefined)
    if (fatal !== undefined)
      result.failures.push(`subscriber ${fatal.record.name} ended: ${fatal.record.fatal}`)
    result.ok = result.failures.length === 0
    return result
  } finally {
    await publisher?.stop(1000)
    for (const s of subscribers) await s.stop()
    await proxy?.close()
    await brokerProxy?.close()
    await nodes?.stopAll()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}
