/**
 * The `herald bench` engine: subscriber processes on raw sockets, an open-loop publisher,
 * then one result with delivery latency, integrity counts (lost, duplicated, out of order,
 * per subscriber, from sequence numbers) and the server's CPU and memory.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  BUCKETS,
  bucketLowMs,
  createLatencyHistogram,
  type Histogram,
  mergeHistogram,
  summarize,
} from './latency.js'
import { type OwnHub, startOwnHub } from './own-hub.js'
import { type ProcSample, sampleProcess } from './proc-stats.js'
import { createPublisher } from './publisher.js'
import { checkSlos, type Slo, type SloResult } from './slo.js'
import type { ResultMessage, TickMessage, WorkerMessage } from './worker-protocol.js'

/** Options of {@link runBench}. */
export interface BenchOptions {
  /** Subscribe URL; without it the benchmark starts its own hub. */
  url?: URL | undefined
  /** Publish URL (required with `url`). */
  publishUrl?: URL | undefined
  subscribers: number
  /** Events per second. */
  rate: number
  /** Seconds of publishing. */
  duration: number
  /** Bytes of event data. Default 128. */
  payload?: number
  /** Seconds at the start whose deliveries count for integrity but not for latency. */
  warmup?: number
  slos?: readonly Slo[]
  /** Store of the benchmark's own hub (`sqlite`, `memory`, or a `--store` value). */
  store?: string
  /** Server pid to sample for CPU and memory (the own hub's by default). */
  pid?: number | undefined
  /** Subscribers per process. Default 5000. */
  perProcess?: number
  /** Request headers for subscribe and publish (e.g. a bearer token). */
  headers?: Record<string, string>
  /** Publish body: Herald's JSON (default) or the bare payload. */
  publishFormat?: 'json' | 'raw'
  /**
   * The topic conflates on the hub (`herald serve --conflate`): a skipped event that a later
   * one followed is counted in `conflated`, not `lost` (missing the newest is still a loss).
   */
  conflated?: boolean
  /** Seconds to wait for the last deliveries after publishing stops. Default 5. */
  drain?: number
  /** Called about once a second while the benchmark runs. */
  onProgress?: (p: BenchProgress) => void
}

/** A live progress sample. */
export interface BenchProgress {
  phase: 'connecting' | 'publishing' | 'draining'
  elapsedS: number
  connected: number
  subscribers: number
  deliveriesPerSec: number
  p99Ms: number
  published: number
}

/** One second of the run, for the report's charts. */
export interface TimelineRow {
  t: number
  deliveriesPerSec: number
  publishedPerSec: number
  connected: number
  p50Ms: number
  p99Ms: number
  reconnects: number
  serverCpuPct: number | null
  serverRssMb: number | null
}

/** The benchmark's figures. Field names are a public contract (`--json`). */
export interface BenchResult {
  ok: boolean
  target: string
  subscribers: number
  /** Processes holding the subscribers. */
  subscriberProcesses: number
  connected: number
  connectFailed: number
  rate: number
  durationS: number
  payloadBytes: number
  published: number
  publishFailed: number
  publishedPerSec: number
  publishP99Ms: number
  expected: number
  delivered: number
  deliveriesPerSec: number
  frames: number
  bytes: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  connectP50Ms: number
  connectP99Ms: number
  lost: number
  lossySubscribers: number
  duplicated: number
  outOfOrder: number
  /** Events the hub conflated (skipped for a newer one of the same key); `--conflated` only. */
  conflated: number
  reconnects: number
  reconnectAttempts: number
  reconnectSuccessRate: number
  serverCpuPct: number | null
  /**
   * CPU of the subscriber processes over the run, in % of one core each (100 = saturated):
   * near 100, the figures measure the generator, not the server.
   */
  subscriberCpuPct: number
  serverRssMb: number | null
  serverRssPeakMb: number | null
  slo: SloResult[]
  failures: string[]
  firstPublishError: string | null
  firstConnectError: string | null
  histogram: Array<[number, number]>
  timeline: TimelineRow[]
}

const WORKER = fileURLToPath(new URL('./subscriber-worker.js', import.meta.url))
const SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`)
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Worker {
  child: ChildProcess
  connected: number
  minSeq: number
  ready: Promise<{ connected: number; failed: number; firstError: string | undefined }>
  result: Promise<ResultMessage>
}

function startWorker(
  count: number,
  target: URL,
  headers: string,
  conflated: boolean,
  onTick: (worker: Worker, tick: TickMessage) => void,
): Worker {
  const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  let resolveReady!: Worker['ready'] extends Promise<infer T> ? (v: T) => void : never
  let resolveResult!: (v: ResultMessage) => void
  let rejectAll!: (e: Error) => void
  const ready = new Promise<{ connected: number; failed: number; firstError: string | undefined }>(
    (resolve, reject) => {
      resolveReady = resolve
      rejectAll = reject
    },
  )
  const result = new Promise<ResultMessage>((resolve, reject) => {
    resolveResult = resolve
    child.once('exit', (code) => reject(new Error(`a subscriber process exited (${code})`)))
  })
  ready.catch(() => {})
  result.catch(() => {})
  child.once('exit', (code) => rejectAll(new Error(`a subscriber process exited (${code})`)))
  const worker: Worker = { child, connected: 0, minSeq: 0, ready, result }
  child.on('message', (message: WorkerMessage) => {
    if (message.type === 'ready') resolveReady(message)
    else if (message.type === 'tick') onTick(worker, message)
    else if (message.type === 'result') resolveResult(message)
  })
  const loopback = /^(127\.|localhost$)/.test(target.hostname)
  child.send({
    type: 'start',
    host: target.hostname === 'localhost' ? '127.0.0.1' : target.hostname.replace(/^\[|\]$/g, ''),
    port: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
    path: target.pathname + target.search,
    count,
    sources: loopback ? SOURCES : [],
    extraHeaders: headers,
    reconnectDelayMs: 500,
    connectConcurrency: 256,
    conflated,
  })
  return worker
}

/** Runs one benchmark. Rejects on a setup failure (no server, bad URL). */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const payload = options.payload ?? 128
  const warmup = Math.min(options.warmup ?? 1, options.duration / 4)
  const perProcess = options.perProcess ?? 5000
  const headers = options.headers ?? {}
  let hub: OwnHub | undefined
  let subscribeUrl: URL
  let publishUrl: URL
  let topic: string
  if (options.url === undefined) {
    hub = await startOwnHub(options.store ?? 'sqlite')
    topic = 'bench'
    subscribeUrl = new URL('/events?topic=bench', hub.url)
    publishUrl = new URL('/publish', hub.url)
  } else {
    subscribeUrl = options.url
    if (options.publishUrl === undefined) throw new TypeError('--url needs --publish-url')
    publishUrl = options.publishUrl
    topic = subscribeUrl.searchParams.get('topic') ?? 'bench'
  }
  if (subscribeUrl.protocol !== 'http:')
    throw new TypeError(
      `--url: synthetic subscribers speak plain http:, not ${subscribeUrl.protocol}`,
    )
  const pid = options.pid ?? hub?.pid
  const headerLines = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, '')}\r\n`)
    .join('')

  const workers: Worker[] = []
  const timeline: TimelineRow[] = []
  let second = createLatencyHistogram()
  let secondDeliveries = 0
  let secondReconnects = 0
  const onTick = (worker: Worker, tick: TickMessage) => {
    worker.connected = tick.connected
    worker.minSeq = tick.minSeq
    secondDeliveries += tick.deliveries
    secondReconnects += tick.reconnects
    mergeHistogram(second, tick.latency)
  }
  try {
    for (let left = options.subscribers; left > 0; left -= perProcess) {
      workers.push(
        startWorker(
          Math.min(perProcess, left),
          subscribeUrl,
          headerLines,
          options.conflated === true,
          onTick,
        ),
      )
    }
    const connectStarted = performance.now()
    const runStarted = performance.now()
    const progress = (
      phase: BenchProgress['phase'],
      deliveries: number,
      p99: number,
      published: number,
    ) =>
      options.onProgress?.({
        phase,
        elapsedS: round((performance.now() - connectStarted) / 1000, 1),
        connected: workers.reduce((n, w) => n + w.connected, 0),
        subscribers: options.subscribers,
        deliveriesPerSec: deliveries,
        p99Ms: p99,
        published,
      })
    const connecting = setInterval(() => progress('connecting', 0, 0, 0), 1000)
    let readies: Awaited<Worker['ready']>[]
    try {
      readies = await Promise.all(workers.map((w) => w.ready))
    } finally {
      clearInterval(connecting)
    }
    const connected = readies.reduce((n, r) => n + r.connected, 0)
    const firstConnectError = readies.find((r) => r.firstError !== undefined)?.firstError
    if (connected === 0) {
      throw new Error(
        `no subscriber could connect to ${subscribeUrl.href}: ${firstConnectError ?? 'unknown error'}`,
      )
    }
    // Streams are open once headers arrive; give the server a moment to register them all.
    await sleep(200)

    const before = pid === undefined ? undefined : sampleProcess(pid)
    let last: ProcSample | undefined = before
    let peakRss = before?.rssBytes ?? 0
    const publisher = createPublisher({
      url: publishUrl,
      topic,
      rate: options.rate,
      payload,
      headers,
      format: options.publishFormat ?? 'json',
    })
    const started = performance.now()
    let lastSent = 0
    second = createLatencyHistogram()
    secondDeliveries = 0
    const sampleSecond = (phase: BenchProgress['phase']) => {
      const summary = summarize(second)
      const now = pid === undefined ? undefined : sampleProcess(pid)
      let cpu: number | null = null
      if (now !== undefined && last !== undefined)
        cpu = round((now.cpuSeconds - last.cpuSeconds) * 100, 1)
      if (now !== undefined) peakRss = Math.max(peakRss, now.rssBytes)
      last = now ?? last
      timeline.push({
        t: timeline.length + 1,
        deliveriesPerSec: secondDeliveries,
        publishedPerSec: publisher.sent - lastSent,
        connected: workers.reduce((n, w) => n + w.connected, 0),
        p50Ms: summary.p50Ms,
        p99Ms: summary.p99Ms,
        reconnects: secondReconnects,
        serverCpuPct: cpu,
        serverRssMb: now === undefined ? null : round(now.rssBytes / 2 ** 20, 1),
      })
      progress(phase, secondDeliveries, summary.p99Ms, publisher.sent)
      lastSent = publisher.sent
      second = createLatencyHistogram()
      secondDeliveries = 0
      secondReconnects = 0
    }
    let measureAt = started
    const measure = () => {
      measureAt = performance.now()
      const fromSeq = publisher.sent + 1
      for (const w of workers) w.child.send({ type: 'measure', fromSeq })
    }
    const warmupTimer = setTimeout(measure, warmup * 1000)
    const ticker = setInterval(() => {
      sampleSecond(
        performance.now() - started < options.duration * 1000 ? 'publishing' : 'draining',
      )
    }, 1000)
    await sleep(options.duration * 1000)
    clearTimeout(warmupTimer)
    const sendEnded = performance.now()
    await publisher.stop()
    const published = publisher.sent
    const after = pid === undefined ? undefined : sampleProcess(pid)
    // Drain: wait until every subscriber saw the last sequence number, or the deadline.
    const drainUntil = performance.now() + (options.drain ?? 5) * 1000
    while (performance.now() < drainUntil) {
      if (workers.every((w) => w.minSeq >= published)) break
      await sleep(100)
    }
    await sleep(1100)
    clearInterval(ticker)
    for (const w of workers) {
      w.child.send({ type: 'finish', published, notPublished: [...publisher.failed] })
    }
    const results = await Promise.all(workers.map((w) => w.result))

    const latency = createLatencyHistogram()
    const connect = createLatencyHistogram()
    const buckets = new Array<number>(BUCKETS).fill(0)
    const sum = (f: (r: ResultMessage) => number) => results.reduce((n, r) => n + f(r), 0)
    for (const r of results) {
      mergeHistogram(latency, r.latency)
      mergeHistogram(connect, r.connect)
      r.buckets.forEach((c, i) => {
        buckets[i] = (buckets[i] ?? 0) + c
      })
    }
    const lat = summarize(latency)
    const con = summarize(connect)
    const measuredSeconds = Math.max(0.001, (sendEnded - measureAt) / 1000)
    const expectedPerSubscriber = published - publisher.failed.size
    const reconnectAttempts = sum((r) => r.reconnectAttempts)
    const reconnects = sum((r) => r.reconnectSuccesses)
    const result: BenchResult = {
      ok: true,
      target: subscribeUrl.href,
      subscribers: options.subscribers,
      subscriberProcesses: workers.length,
      connected,
      connectFailed: options.subscribers - connected,
      rate: options.rate,
      durationS: options.duration,
      payloadBytes: payload,
      published: expectedPerSubscriber,
      publishFailed: publisher.failed.size,
      publishedPerSec: round(published / ((sendEnded - started) / 1000), 1),
      publishP99Ms: summarize(publisher.latency).p99Ms,
      expected: expectedPerSubscriber * options.subscribers,
      delivered: sum((r) => r.received),
      deliveriesPerSec: Math.round(sum((r) => r.measured) / measuredSeconds),
      frames: sum((r) => r.frames),
      bytes: sum((r) => r.bytes),
      ...{ p50Ms: lat.p50Ms, p95Ms: lat.p95Ms, p99Ms: lat.p99Ms, maxMs: lat.maxMs },
      connectP50Ms: con.p50Ms,
      connectP99Ms: con.p99Ms,
      lost: sum((r) => r.lost),
      lossySubscribers: sum((r) => r.lossySubscribers),
      duplicated: sum((r) => r.duplicated),
      outOfOrder: sum((r) => r.outOfOrder),
      conflated: sum((r) => r.conflated),
      reconnects,
      reconnectAttempts,
      reconnectSuccessRate:
        reconnectAttempts === 0 ? 100 : round((reconnects / reconnectAttempts) * 100, 3),
      serverCpuPct:
        before && after
          ? round(
              ((after.cpuSeconds - before.cpuSeconds) / ((sendEnded - started) / 1000)) * 100,
              1,
            )
          : null,
      subscriberCpuPct: round(
        (sum((r) => r.cpuSeconds) / ((performance.now() - runStarted) / 1000) / workers.length) *
          100,
        1,
      ),
      serverRssMb: after ? round(after.rssBytes / 2 ** 20, 1) : null,
      serverRssPeakMb: pid === undefined ? null : round(peakRss / 2 ** 20, 1),
      slo: [],
      failures: [],
      firstPublishError: publisher.firstError ?? null,
      firstConnectError: firstConnectError ?? null,
      histogram: buckets.map((c, i) => [round(bucketLowMs(i), 4), c] as [number, number]),
      timeline,
    }
    // Trim the histogram's empty tail and head for the report.
    const firstBucket = result.histogram.findIndex(([, c]) => c > 0)
    let lastBucket = result.histogram.length - 1
    while (lastBucket > 0 && result.histogram[lastBucket]?.[1] === 0) lastBucket--
    result.histogram = firstBucket < 0 ? [] : result.histogram.slice(firstBucket, lastBucket + 1)
    judge(result, options.slos ?? [])
    return result
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL')
    await hub?.stop()
  }
}

/** Fills `failures`, `slo` and `ok`: any loss, duplicate, reordering or missed SLO fails. */
function judge(result: BenchResult, slos: readonly Slo[]): void {
  if (result.lost > 0)
    result.failures.push(
      `${result.lost} events lost (${result.lossySubscribers} subscribers affected)`,
    )
  if (result.duplicated > 0) result.failures.push(`${result.duplicated} events duplicated`)
  if (result.outOfOrder > 0) result.failures.push(`${result.outOfOrder} events out of order`)
  if (result.connectFailed > 0)
    result.failures.push(
      `${result.connectFailed} subscribers failed their first connection attempt`,
    )
  if (result.published === 0) result.failures.push('no event could be published')
  result.slo = checkSlos(slos, {
    ...result,
    connectP99Ms: result.connectP99Ms,
  })
  for (const s of result.slo)
    if (!s.ok) result.failures.push(`SLO missed: ${s.slo} (actual ${s.actual})`)
  result.ok = result.failures.length === 0
}

export type { Histogram }
