import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import type { ClientView } from './dashboard-api.js'
import { listClients } from './dashboard-api.js'
import type { DashboardPeers, NodeReport } from './dashboard-peers.js'
import { bucketsToRecord, mergeTopicCounts, planClientPages, totalOf } from './dashboard-peers.js'
import type { NodeStats } from './stats.js'
import { createHubStats } from './stats.js'

function stats(node: string, over: Partial<NodeStats> = {}): NodeStats {
  return {
    node,
    connections: 0,
    subscribers: 0,
    publishedPerSec: 0,
    deliveredPerSec: 0,
    replayedPerSec: 0,
    publishErrorsPerSec: 0,
    latencyMs: { p50: null, p95: null, p99: null },
    slowConsumersClosed: 0,
    resets: 0,
    replayed: 0,
    store: { ok: true, latencyMs: 1, latestId: '0010', deliveredId: '0010', lagEvents: 0 },
    memory: { rssBytes: 100, heapUsedBytes: 10 },
    ...over,
  }
}

function report(node: string, over: Partial<NodeStats> = {}, latency = {}): NodeReport {
  return { stats: stats(node, over), latencyBuckets: latency, watched: false }
}

describe('totalOf', () => {
  it('sums counts and rates, takes the worst store, and merges latency buckets', () => {
    const total = totalOf([
      report(
        'h:1',
        { connections: 6, deliveredPerSec: 20, publishedPerSec: 5, slowConsumersClosed: 1 },
        // 100 fast observations on the first worker...
        bucketsToRecord([
          [0.001, 100],
          [0.01, 100],
          [Number.POSITIVE_INFINITY, 100],
        ]),
      ),
      report(
        'h:2',
        {
          connections: 4,
          deliveredPerSec: 36,
          publishedPerSec: 13,
          resets: 2,
          store: { ok: true, latencyMs: 7, latestId: '0012', deliveredId: '0009', lagEvents: 3 },
        },
        // ...and 100 slow ones on the second: the total's median sits between them.
        bucketsToRecord([
          [0.001, 0],
          [0.01, 100],
          [Number.POSITIVE_INFINITY, 100],
        ]),
      ),
    ])
    expect(total).toMatchObject({
      node: 'total',
      connections: 10,
      deliveredPerSec: 56,
      publishedPerSec: 18,
      slowConsumersClosed: 1,
      resets: 2,
      memory: { rssBytes: 200, heapUsedBytes: 20 },
      store: { ok: true, latencyMs: 7, latestId: '0012', deliveredId: '0009', lagEvents: 3 },
    })
    expect(total.latencyMs.p50).toBeCloseTo(1)
    // p99 of the pooled 200 is in the slow worker's bucket (1-10 ms), not the fast one's.
    expect(total.latencyMs.p99).toBeGreaterThan(9)
  })

  it('says the store is down when one worker cannot reach it, and unknown before any probe', () => {
    const down = stats('h:2').store
    expect(
      totalOf([report('h:1'), report('h:2', { store: { ...down, ok: false } })]).store.ok,
    ).toBe(false)
    const unprobed = {
      ok: null,
      latencyMs: null,
      latestId: null,
      deliveredId: null,
      lagEvents: null,
    }
    expect(
      totalOf([report('h:1', { store: unprobed }), report('h:2', { store: unprobed })]).store,
    ).toEqual(unprobed)
  })
})

describe('mergeTopicCounts', () => {
  it('ranks the sums of every worker’s list', () => {
    expect(
      mergeTopicCounts(
        [
          [
            { topic: 'a', value: 3 },
            { topic: 'b', value: 2 },
          ],
          [
            { topic: 'b', value: 4 },
            { topic: 'c', value: 1 },
          ],
          undefined,
        ],
        2,
      ),
    ).toEqual([
      { topic: 'b', value: 6 },
      { topic: 'a', value: 3 },
    ])
  })
})

function clients(node: string, n: number): ClientView[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${node}-${i}`,
    ip: '127.0.0.1',
    topics: [i % 3 === 0 ? 'prices/x' : 'orders/y'],
    since: i,
    queuedBytes: 0,
    lastEventId: null,
    subject: null,
  }))
}

describe('planClientPages', () => {
  it('cuts any page of the concatenated workers exactly as one list would be cut', () => {
    const workers = {
      'h:1': clients('h:1', 7),
      'h:2': clients('h:2', 0),
      'h:3': clients('h:3', 12),
    }
    const all = Object.values(workers).flat()
    for (const q of ['', 'prices/']) {
      const whole = all.filter((c) => q === '' || c.topics[0]?.startsWith(q))
      const counts = Object.entries(workers).map(([node, list]) => {
        const page = listClients(list, list.length, { q, limit: 1 })
        return { node, total: page.total, matched: page.matched }
      })
      for (let offset = 0; offset <= whole.length + 2; offset++) {
        for (const limit of [1, 3, 5, 50]) {
          const page = planClientPages(counts, offset, limit).flatMap((part) => {
            const list = workers[part.node as keyof typeof workers]
            return listClients(list, list.length, { q, offset: part.offset, limit: part.limit })
              .clients
          })
          expect(
            page.map((c) => c.id),
            `q=${q} offset=${offset} limit=${limit}`,
          ).toEqual(whole.slice(offset, offset + limit).map((c) => c.id))
        }
      }
    }
  })

  it('asks only the workers the page touches', () => {
    const counts = [
      { node: 'a', total: 7500, matched: 7500 },
      { node: 'b', total: 7500, matched: 7500 },
    ]
    expect(planClientPages(counts, 14_000, 50)).toEqual([{ node: 'b', offset: 6500, limit: 50 }])
    expect(planClientPages(counts, 7480, 50)).toEqual([
      { node: 'a', offset: 7480, limit: 20 },
      { node: 'b', offset: 0, limit: 30 },
    ])
    expect(planClientPages(counts, 15_000, 50)).toEqual([])
  })
})

describe('createHubStats with peers', () => {
  it('puts every worker in each sample, in name order, with their total', async () => {
    const shared: NodeReport[] = []
    const peer = report('h:10', { connections: 4, subscribers: 4 })
    const peers: DashboardPeers = {
      share: (r) => shared.push(r),
      others: () => [{ ...peer, watched: true, bySubscribers: [{ topic: 'x', value: 4 }] }],
      clients: async () => ({ total: 0, matched: 0, offset: 0, limit: 1, clients: [] }),
    }
    const s = createHubStats({
      registry: new Registry(),
      node: 'h:9',
      connections: () => 6,
      subscribers: () => 6,
      countByTopic: () => new Map([['x', 6]]),
      health: async () => ({ ok: true, oldestId: undefined, latestId: undefined }),
      intervalMs: 60_000,
      peers,
    })
    try {
      const seen: Array<{ total: number; topics: unknown }> = []
      const stop = s.watch((sample) => {
        seen.push({ total: sample.total.connections, topics: sample.topics })
      }, true)
      const sample = await s.sample()
      stop()
      expect(sample.nodes.map((n) => [n.node, n.connections])).toEqual([
        ['h:9', 6],
        ['h:10', 4],
      ])
      expect(sample.total.connections).toBe(10)
      // This process's report went to the peers, with its topics (a peer watches).
      expect(shared.at(-1)?.stats.connections).toBe(6)
      expect(shared.at(-1)?.bySubscribers).toEqual([{ topic: 'x', value: 6 }])
    } finally {
      s.close()
    }
  })
})
