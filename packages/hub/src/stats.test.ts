import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import type { StatsSample } from './stats.js'
import { createHubStats, quantileFromBuckets } from './stats.js'

describe('quantileFromBuckets', () => {
  it('interpolates inside the bucket, as histogram_quantile does', () => {
    const before = [
      [0.001, 0],
      [0.01, 0],
      [Number.POSITIVE_INFINITY, 0],
    ] as const
    // 100 observations: 50 under 1 ms, 50 between 1 and 10 ms.
    const after = [
      [0.001, 50],
      [0.01, 100],
      [Number.POSITIVE_INFINITY, 100],
    ] as const
    expect(quantileFromBuckets(before, after, 0.5)).toBeCloseTo(0.001)
    expect(quantileFromBuckets(before, after, 0.25)).toBeCloseTo(0.0005)
    expect(quantileFromBuckets(before, after, 0.99)).toBeCloseTo(0.001 + 0.009 * (49 / 50))
  })

  it('counts only what happened between the snapshots, and says null when nothing did', () => {
    const before = [
      [0.001, 1000],
      [Number.POSITIVE_INFINITY, 1000],
    ] as const
    expect(quantileFromBuckets(before, before, 0.5)).toBeNull()
    const after = [
      [0.001, 1000],
      [Number.POSITIVE_INFINITY, 1010],
    ] as const
    // Every new observation is past the last finite bound: the bound is the best estimate.
    expect(quantileFromBuckets(before, after, 0.5)).toBe(0.001)
  })
})

describe('createHubStats', () => {
  function setup() {
    const registry = new Registry()
    const published = new Counter({
      name: 'herald_events_published_total',
      help: 'x',
      registers: [registry],
    })
    const latency = new Histogram({
      name: 'herald_publish_to_write_seconds',
      help: 'x',
      buckets: [0.001, 0.01, 0.1],
      registers: [registry],
    })
    const stats = createHubStats({
      registry,
      node: 'test-node',
      connections: () => 7,
      subscribers: () => 9,
      countByTopic: () =>
        new Map([
          ['a', 1],
          ['b', 5],
        ]),
      health: async () => ({ ok: true, oldestId: undefined, latestId: '0000000000000010' }),
      intervalMs: 60_000,
    })
    return { stats, published, latency }
  }

  it('turns counters into rates and histograms into quantiles, with the store lag', async () => {
    const { stats, published, latency } = setup()
    try {
      await stats.sample()
      published.inc(50)
      for (let i = 0; i < 100; i++) latency.observe(0.005)
      stats.observe([{ id: '0000000000000004', topic: 'b' } as never])
      const watched: StatsSample[] = []
      const stop = stats.watch((s) => watched.push(s), true)
      const sample = await stats.sample()
      stop()
      const node = sample.nodes[0]
      expect(node?.node).toBe('test-node')
      expect(node?.connections).toBe(7)
      expect(node?.subscribers).toBe(9)
      expect(node?.publishedPerSec).toBeGreaterThan(0)
      expect(node?.latencyMs.p50).toBeGreaterThan(1)
      expect(node?.latencyMs.p50).toBeLessThan(10)
      expect(stats.snapshot({ admin: true, gated: true }).node).toBe('test-node')
    } finally {
      stats.close()
    }
  })

  it('withholds node names and topics from viewers without the admin grant', () => {
    const { stats } = setup()
    try {
      const snapshot = stats.snapshot({ admin: false, gated: true })
      expect(snapshot.node).toBe('')
      expect(JSON.stringify(snapshot)).not.toContain('test-node')
    } finally {
      stats.close()
    }
  })
})
