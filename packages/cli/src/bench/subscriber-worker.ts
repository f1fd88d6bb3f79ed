/**
 * A `herald bench` subscriber process: holds thousands of {@link RawSubscriber}s, counts
 * what each one receives, and reports to the parent over IPC. Several of these run side by
 * side once the subscribers outnumber what one process may hold (`ulimit -n`).
 */
import { BUCKETS, bucketOf, createLatencyHistogram, encodeHistogram, recordMs } from './latency.js'
import { decodePayload, monotonicMs } from './payload.js'
import { RawSubscriber } from './raw-subscriber.js'
import { SequenceTracker } from './sequence.js'
import type { ParentMessage, StartMessage, WorkerMessage } from './worker-protocol.js'

const send = (message: WorkerMessage) => process.send?.(message)

const latency = createLatencyHistogram()
const tickLatency = createLatencyHistogram()
const connect = createLatencyHistogram()
const buckets = new Array<number>(BUCKETS).fill(0)
const subscribers: RawSubscriber[] = []
const trackers: SequenceTracker[] = []
let measureFrom = Number.POSITIVE_INFINITY
let measured = 0
let tickDeliveries = 0
let frames = 0
let bytes = 0
let connectFailed = 0
let reconnectAttempts = 0
let reconnectSuccesses = 0
let tickReconnects = 0
const drops: Record<string, number> = {}

function start(message: StartMessage): void {
  let pending = message.count
  let inFlight = 0
  let next = 0
  let connected = 0
  let firstError: string | undefined
  const settle = () => {
    inFlight--
    if (--pending === 0) send({ type: 'ready', connected, failed: connectFailed, firstError })
    else launch()
  }
  const launch = () => {
    while (inFlight < message.connectConcurrency && next < message.count) {
      const i = next++
      inFlight++
      let first = true
      const tracker = new SequenceTracker({ conflated: message.conflated === true })
      trackers.push(tracker)
      const subscriber = new RawSubscriber(
        {
          host: message.host,
          port: message.port,
          path: message.path,
          localAddress: message.sources[i % Math.max(1, message.sources.length)],
          extraHeaders: message.extraHeaders,
          reconnectDelayMs: message.reconnectDelayMs,
        },
        {
          onOpen(ms, reconnect) {
            if (reconnect) reconnectSuccesses++
            else {
              recordMs(connect, ms)
              connected++
            }
            if (first) {
              first = false
              settle()
            }
          },
          onEvent(data) {
            frames++
            const payload = decodePayload(data)
            if (payload === undefined) return
            tracker.see(payload.seq, payload.settled)
            const ms = monotonicMs() - payload.sentMs
            // The charts show the warm-up too; the totals leave it out.
            recordMs(tickLatency, ms)
            tickDeliveries++
            if (payload.seq < measureFrom) return
            recordMs(latency, ms)
            buckets[bucketOf(ms)] = (buckets[bucketOf(ms)] ?? 0) + 1
            measured++
          },
          onBytes(n) {
            bytes += n
          },
          onDrop(hadOpened, reason) {
            drops[reason] = (drops[reason] ?? 0) + 1
            if (first) {
              // The first attempt failed: counted once, then retried until it opens.
              first = false
              connectFailed++
              firstError ??= reason
              settle()
            }
            if (hadOpened) {
              reconnectAttempts++
              tickReconnects++
            }
          },
        },
      )
      subscribers.push(subscriber)
      subscriber.start()
    }
  }
  launch()
  const timer = setInterval(() => {
    let open = 0
    let minSeq = Number.POSITIVE_INFINITY
    for (const s of subscribers) if (s.open) open++
    for (const t of trackers) if (t.max < minSeq) minSeq = t.max
    send({
      type: 'tick',
      deliveries: tickDeliveries,
      connected: open,
      minSeq: trackers.length === 0 ? 0 : minSeq,
      latency: encodeHistogram(tickLatency),
      reconnects: tickReconnects,
    })
    tickDeliveries = 0
    tickReconnects = 0
    tickLatency.reset()
  }, 1000)
  timer.unref()
}

function finish(published: number, notPublished: ReadonlySet<number>): void {
  // A reconnection still under way is neither a success nor a failure yet.
  for (const s of subscribers) if (s.reconnecting) reconnectAttempts--
  for (const s of subscribers) s.stop()
  let received = 0
  let lost = 0
  let duplicated = 0
  let outOfOrder = 0
  let conflated = 0
  let lossySubscribers = 0
  for (const t of trackers) {
    const c = t.counts(published, notPublished)
    received += c.received
    lost += c.lost
    duplicated += c.duplicated
    outOfOrder += c.outOfOrder
    conflated += c.conflated
    if (c.lost > 0) lossySubscribers++
  }
  send({
    type: 'result',
    subscribers: subscribers.length,
    received,
    lost,
    duplicated,
    outOfOrder,
    conflated,
    lossySubscribers,
    measured,
    frames,
    bytes,
    latency: encodeHistogram(latency),
    buckets,
    connect: encodeHistogram(connect),
    connectFailed,
    reconnectAttempts,
    reconnectSuccesses,
    drops,
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  })
  // Let the IPC message flush before leaving.
  setTimeout(() => process.exit(0), 50)
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'start') start(message)
  else if (message.type === 'measure') measureFrom = message.fromSeq
  else if (message.type === 'finish') finish(message.published, new Set(message.notPublished))
})
process.on('disconnect', () => process.exit(0))
