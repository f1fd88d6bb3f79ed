import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createHubMetrics } from './metrics.js'
import { createPendingSeries } from './pending-histogram.js'

const BUCKETS = [0.001, 0.01, 0.1, 1]
// Below, on, between and above the bounds, and a non-finite one (ignored by the pending series).
const VALUES = [0.0005, 0.001, 0.004, 0.01, 0.05, 0.1, 0.5, 1, 3, 0.0002]

function pair() {
  const plain = new Registry()
  const pending = new Registry()
  const reference = new Histogram({
    name: 'h_seconds',
    help: 'h',
    labelNames: ['op'],
    buckets: BUCKETS,
    registers: [plain],
  })
  let series: ReturnType<typeof createPendingSeries> | undefined
  const observed = new Histogram({
    name: 'h_seconds',
    help: 'h',
    labelNames: ['op'],
    buckets: BUCKETS,
    registers: [pending],
    collect() {
      series?.merge()
    },
  })
  series = createPendingSeries(observed, { op: 'append' }, BUCKETS)
  return { plain, pending, reference, observed, series }
}

describe('createPendingSeries', () => {
  it('exposes exactly what observing through prom-client exposes', async () => {
    const { plain, pending, reference, series } = pair()
    expect(await pending.metrics()).toBe(await plain.metrics())
    for (const value of VALUES) {
      reference.observe({ op: 'append' }, value)
      series.observe(value)
    }
    expect(await pending.metrics()).toBe(await plain.metrics())
    // Merged once: reading again adds nothing.
    expect(await pending.metrics()).toBe(await plain.metrics())
    for (const value of VALUES.slice(0, 4)) {
      reference.observe({ op: 'append' }, value)
      series.observe(value)
    }
    // Integer-valued figures, so the two sums agree to the last digit however they were added.
    const counts = (text: string) => text.split('\n').filter((l) => !l.includes('_sum'))
    expect(counts(await pending.metrics())).toEqual(counts(await plain.metrics()))
  })

  it('keeps the series other labels observed through prom-client beside it', async () => {
    const { plain, pending, reference, observed, series } = pair()
    reference.observe({ op: 'append' }, 0.004)
    reference.observe({ op: 'read' }, 0.05)
    series.observe(0.004)
    observed.observe({ op: 'read' }, 0.05)
    expect(await pending.metrics()).toBe(await plain.metrics())
  })

  it('ignores a value prom-client would refuse', async () => {
    const { pending, series } = pair()
    series.observe(Number.NaN)
    series.observe(Number.POSITIVE_INFINITY)
    expect(await pending.metrics()).not.toContain('op="append"')
  })
})

describe('hub metrics: observeAppend', () => {
  it('shows in herald_store_seconds{op="append"} when the registry is read', async () => {
    const metrics = createHubMetrics({ connections: () => 0, subscribersByTopic: () => new Map() })
    metrics.observeAppend(0.0003)
    metrics.observeAppend(0.2)
    const text = await metrics.registry.metrics()
    expect(text).toContain('herald_store_seconds_bucket{le="0.0005",op="append"} 1')
    expect(text).toContain('herald_store_seconds_count{op="append"} 2')
    const [value] = await metrics.storeLatency
      .get()
      .then((m) => m.values.filter((v) => v.metricName === 'herald_store_seconds_count'))
    expect(value?.value).toBe(2)
  })
})

describe('hub metrics: observePublishLatency', () => {
  it('exposes herald_publish_to_write_seconds exactly as observing through prom-client', async () => {
    const metrics = createHubMetrics({ connections: () => 0, subscribersByTopic: () => new Map() })
    // The reference: the same unlabelled histogram, observed through prom-client.
    const plain = new Registry()
    const reference = new Histogram({
      name: 'herald_publish_to_write_seconds',
      help: 'From a publish request being received to its events being queued to subscribers.',
      buckets: [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
      ],
      registers: [plain],
    })
    const only = async () =>
      (await metrics.registry.metrics())
        .split('\n')
        .filter((l) => l.includes('herald_publish_to_write_seconds'))
        .join('\n')
    const expected = async () => (await plain.metrics()).trim()
    // Before any publish: the zero series, as an unlabelled prom-client histogram shows it.
    expect(await only()).toBe(await expected())
    for (const value of [0.00005, 0.0003, 0.002, 0.3, 4]) {
      reference.observe(value)
      metrics.observePublishLatency(value)
    }
    expect(await only()).toBe(await expected())
    expect(await only()).toContain('herald_publish_to_write_seconds_count 5')
  })
})

describe('hub metrics: countPublished', () => {
  it('shows in herald_events_published_total whenever the counter is read', async () => {
    const metrics = createHubMetrics({ connections: () => 0, subscribersByTopic: () => new Map() })
    metrics.countPublished(1)
    metrics.countPublished(100)
    expect(await metrics.registry.metrics()).toContain('herald_events_published_total 101')
    // Added once: reading again adds nothing; a direct inc still counts beside it.
    metrics.published.inc(2)
    metrics.countPublished(3)
    const [value] = (await metrics.published.get()).values
    expect(value?.value).toBe(106)
    expect(await metrics.registry.metrics()).toContain('herald_events_published_total 106')
  })
})
