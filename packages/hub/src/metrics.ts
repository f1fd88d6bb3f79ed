/**
 * The hub's Prometheus metrics (prom-client), in a registry of its own so that several
 * hubs in one process never collide. Hot paths add totals once per batch, not once per
 * subscriber.
 */
import type {
  MetricLabels,
  ServerCounterName,
  ServerHistogramName,
  ServerMetrics,
} from '@herald/server'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { createPendingSeries } from './pending-histogram.js'

/** The hub's metric instruments. */
export interface HubMetrics {
  /** The registry to expose (`/metrics`). */
  readonly registry: Registry
  /** Events accepted by publish. */
  readonly published: Counter
  /**
   * Counts `n` events accepted by publish in `published` for the cost of an addition (per
   * publish on the hot path: prom-client allocates per `inc`); added when it is read.
   */
  readonly countPublished: (n: number) => void
  /** Live events written to subscribers (one per subscriber per event). */
  readonly delivered: Counter
  /** Live writes skipped because a newer event of the same key superseded them. */
  readonly conflated: Counter
  /** Events written during replay after a reconnect. */
  readonly replayed: Counter
  /** `herald.reset` events sent (cursor too old or unknown). */
  readonly resets: Counter<'reason'>
  /** Publish requests refused, by error code. */
  readonly publishErrors: Counter<'code'>
  /** Publish received -> frames queued to subscribers, in seconds. */
  readonly publishLatency: Histogram
  /**
   * Records one publish's latency, in seconds, in `publishLatency` for the cost of a few
   * additions (the node tail observes one per event it hands on): merged into the histogram
   * whenever it is read (pending-histogram.ts).
   */
  readonly observePublishLatency: (seconds: number) => void
  /** Store operation latency, in seconds. */
  readonly storeLatency: Histogram<'op'>
  /**
   * Records one store append's latency, in seconds, in `storeLatency` (`op="append"`) for the
   * cost of a few additions: merged into the histogram whenever it is read (pending-histogram.ts).
   */
  readonly observeAppend: (seconds: number) => void
  /** The sink handed to `@herald/server`. */
  readonly server: ServerMetrics
}

/** What the metrics read when scraped. */
export interface MetricsSources {
  /** Open event streams. */
  connections(): number
  /** Subscribers per requested topic (pattern). */
  subscribersByTopic(): Map<string, number>
  /** This node's delivery lag in ms (see `admission.ts`). */
  deliveryLagMs?(): number
}

/** Topics reported by name in `herald_subscribers`; the rest are summed as `_other`. */
const MAX_TOPIC_LABELS = 100

const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
]

/** Creates the hub metrics. `defaults` adds prom-client's process metrics (`herald_process_*`). */
export function createHubMetrics(sources: MetricsSources, defaults = false): HubMetrics {
  const registry = new Registry()
  if (defaults) collectDefaultMetrics({ register: registry, prefix: 'herald_' })
  const registers = [registry]
  new Gauge({
    name: 'herald_connections',
    help: 'Open event-stream connections.',
    registers,
    collect() {
      this.set(sources.connections())
    },
  })
  new Gauge({
    name: 'herald_delivery_lag_seconds',
    help: "Age of the oldest event in the log this node has not yet handed to its subscribers' queues.",
    registers,
    collect() {
      this.set((sources.deliveryLagMs?.() ?? 0) / 1000)
    },
  })
  new Gauge({
    name: 'herald_subscribers',
    help: 'Subscribers per requested topic or pattern (the 100 busiest; the rest as _other).',
    labelNames: ['topic'],
    registers,
    collect() {
      this.reset()
      // Bounded label cardinality: the busiest topics by name, the long tail summed.
      const counts = [...sources.subscribersByTopic()].sort((a, b) => b[1] - a[1])
      let other = 0
      for (let i = 0; i < counts.length; i++) {
        const [topic, n] = counts[i] as [string, number]
        if (i < MAX_TOPIC_LABELS) this.set({ topic }, n)
        else other += n
      }
      if (other > 0) this.set({ topic: '_other' }, other)
    },
  })
  const counters = {
    sessions_opened_total: new Counter({
      name: 'herald_sessions_opened_total',
      help: 'Event streams opened.',
      registers,
    }),
    sessions_closed_total: new Counter({
      name: 'herald_sessions_closed_total',
      help: 'Event streams closed, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    requests_rejected_total: new Counter({
      name: 'herald_stream_requests_rejected_total',
      help: 'Event-stream requests refused by the server (406, 429, 503, CORS), by code.',
      labelNames: ['code'],
      registers,
    }),
    slow_consumers_total: new Counter({
      name: 'herald_slow_consumers_closed_total',
      help: 'Subscribers closed because their queue passed its byte limit.',
      registers,
    }),
    writes_total: new Counter({ name: 'herald_writes_total', help: 'Socket writes.', registers }),
    frames_total: new Counter({ name: 'herald_frames_total', help: 'Frames written.', registers }),
    bytes_total: new Counter({ name: 'herald_bytes_total', help: 'Bytes written.', registers }),
    connections_refused_total: new Counter({
      name: 'herald_connections_refused_total',
      help: 'Connections refused before any request (connection limits), by error code.',
      labelNames: ['code'],
      registers,
    }),
    connections_timed_out_total: new Counter({
      name: 'herald_connections_timed_out_total',
      help: 'Connections closed for sending no request head within the head timeout.',
      registers,
    }),
    heartbeats_total: new Counter({
      name: 'herald_heartbeats_total',
      help: 'Heartbeat comments sent.',
      registers,
    }),
  } satisfies Record<ServerCounterName, Counter<string>>
  const histograms = {
    session_duration_seconds: new Histogram({
      name: 'herald_session_duration_seconds',
      help: 'How long event streams lived, by close reason.',
      labelNames: ['reason'],
      buckets: [1, 10, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600],
      registers,
    }),
    flush_duration_seconds: new Histogram({
      name: 'herald_flush_duration_seconds',
      help: 'Time to write every pending stream in one event-loop turn.',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    flush_sessions: new Histogram({
      name: 'herald_flush_sessions',
      help: 'Streams written in one event-loop turn.',
      buckets: [1, 10, 100, 1000, 10_000, 100_000],
      registers,
    }),
  } satisfies Record<ServerHistogramName, Histogram<string>>

  const storeLatency = new Histogram({
    name: 'herald_store_seconds',
    help: 'Event store operation latency, by operation (append, read, bounds).',
    labelNames: ['op'],
    buckets: LATENCY_BUCKETS,
    registers,
    collect() {
      appends.merge()
    },
  })
  const appends = createPendingSeries(storeLatency, { op: 'append' }, LATENCY_BUCKETS)
  const publishLatency = new Histogram({
    name: 'herald_publish_to_write_seconds',
    help: 'From a publish request being received to its events being queued to subscribers.',
    buckets: LATENCY_BUCKETS,
    registers,
    collect() {
      publishes.merge()
    },
  })
  const publishes = createPendingSeries(publishLatency, {}, LATENCY_BUCKETS)
  let publishedSinceRead = 0
  const published = new Counter({
    name: 'herald_events_published_total',
    help: 'Events accepted by publish.',
    registers,
    collect() {
      if (publishedSinceRead === 0) return
      this.inc(publishedSinceRead)
      publishedSinceRead = 0
    },
  })

  return {
    registry,
    published,
    countPublished: (n) => {
      publishedSinceRead += n
    },
    delivered: new Counter({
      name: 'herald_events_delivered_total',
      help: 'Live events queued to subscribers (one per subscriber per event).',
      registers,
    }),
    conflated: new Counter({
      name: 'herald_events_conflated_total',
      help: 'Live writes skipped because a newer event of the same topic and type superseded them (--conflate topics; one per subscriber per event).',
      registers,
    }),
    replayed: new Counter({
      name: 'herald_events_replayed_total',
      help: 'Events written during replay after a reconnect.',
      registers,
    }),
    resets: new Counter({
      name: 'herald_resets_total',
      help: 'herald.reset events sent, by reason (expired, unknown).',
      labelNames: ['reason'],
      registers,
    }),
    publishErrors: new Counter({
      name: 'herald_publish_errors_total',
      help: 'Publish requests refused, by error code.',
      labelNames: ['code'],
      registers,
    }),
    publishLatency,
    observePublishLatency: (seconds) => publishes.observe(seconds),
    storeLatency,
    observeAppend: (seconds) => appends.observe(seconds),
    server: {
      increment(name: ServerCounterName, value: number, labels?: MetricLabels) {
        const counter = counters[name]
        if (counter === undefined) return
        // Metrics must never break the data path (an unexpected label would throw).
        try {
          if (labels === undefined) counter.inc(value)
          else counter.inc(labels, value)
        } catch {}
      },
      observe(name: ServerHistogramName, value: number, labels?: MetricLabels) {
        const histogram = histograms[name]
        if (histogram === undefined) return
        try {
          if (labels === undefined) histogram.observe(value)
          else histogram.observe(labels, value)
        } catch {}
      },
    },
  }
}
