import { createStreamServer, type StreamServer } from '@herald/server'
import { openFetchSessions } from '@herald/testkit'
import { afterEach, describe, expect, it } from 'vitest'
import { storedEvent } from '../test/fixtures.js'
import { ANONYMOUS } from './auth.js'
import { createConflation } from './conflation.js'
import { createFanOut } from './fan-out.js'
import { createMemoryEventStore } from './memory-store.js'
import { createHubMetrics } from './metrics.js'

let streams: StreamServer | undefined
afterEach(async () => {
  await streams?.close()
})

let seq = 0
const event = (topic: string) => storedEvent(++seq, { topic })

describe('fan-out: frames handed to subscribers (what admission projects per event)', () => {
  it('counts one frame per subscriber per event written, none for other topics or conflated events', async () => {
    streams = createStreamServer({ heartbeatMs: 0 })
    const fanOut = createFanOut({
      store: createMemoryEventStore(),
      metrics: createHubMetrics({
        connections: () => 0,
        subscribersByTopic: () => new Map(),
        deliveryLagMs: () => 0,
      }),
      replayPageSize: 100,
      maxReplayBuffer: 100,
      replayHighWaterBytes: 1024 * 1024,
      publishStartedAt: new Map(),
      conflation: createConflation(['ticker']),
    })
    const sessions = openFetchSessions(streams, 5)
    for (const [i, session] of sessions.entries()) {
      await fanOut.attach(session, i < 3 ? ['orders', 'ticker'] : ['news'], ANONYMOUS)
    }
    expect(fanOut.handed).toBe(0)
    // Two orders events to 3 subscribers, one news event to 2.
    fanOut.dispatch([event('orders'), event('news'), event('orders')])
    expect(fanOut.handed).toBe(8)
    // Three ticker events in one batch: the first two are superseded, one frame each for 3.
    fanOut.dispatch([event('ticker'), event('ticker'), event('ticker')])
    expect(fanOut.handed).toBe(11)
    // No subscriber of the topic: nothing handed.
    fanOut.dispatch([event('weather')])
    expect(fanOut.handed).toBe(11)
  })
})
