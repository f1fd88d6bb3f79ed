/**
 * Black-box: overload settings of the real `herald serve`. Conflation (`--conflate`, and
 * `HERALD_CONFLATE`) of a batch the node's tail reads at once, and the admission bound
 * (`--max-delivery-lag`) wired through to the hub. The refusal itself is driven with a paused
 * tail in packages/hub/test/overload.test.ts (a real process offers no way to pause it).
 */
import type { HubProcess } from '@herald/testkit'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let hub: HubProcess

beforeAll(async () => {
  hub = await startHubProcess({
    args: ['--heartbeat', '0', '--max-delivery-lag', '30'],
    env: { HERALD_CONFLATE: 'ticker/*,fx/**' },
  })
})
afterAll(async () => {
  expect(await hub.stop()).toBe(0)
})

async function metric(name: string): Promise<number | undefined> {
  const text = await (await fetch(`${hub.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

describe('herald serve --conflate', () => {
  it('writes live subscribers only the newest event of each topic and type in a batch; replay has all', async () => {
    const live = await openEventStream(`${hub.url}/events?topic=ticker/*`)
    const batch = [
      { topic: 'ticker/a', data: 'a1' },
      { topic: 'ticker/b', data: 'b1' },
      { topic: 'ticker/a', data: 'a2' },
      { topic: 'ticker/a', data: 'halted', event: 'status' },
      { topic: 'ticker/a', data: 'a3' },
    ]
    // One request, one append: the node's tail reads the five events as one batch.
    const answer = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    })
    expect(answer.status).toBe(200)
    const { ids } = (await answer.json()) as { ids: string[] }
    await live.until((events) => events.some((e) => e.data === 'a3'))
    expect(live.events.map((e) => [e.data, e.lastEventId])).toEqual([
      ['b1', ids[1]],
      ['halted', ids[3]],
      ['a3', ids[4]],
    ])
    expect(await metric('herald_events_conflated_total')).toBe(2)

    const replay = await openEventStream(`${hub.url}/events?topic=ticker/*`, {
      'last-event-id': 'earliest',
    })
    expect((await replay.count(5)).map((e) => e.data)).toEqual(batch.map((e) => e.data))
    replay.close()
    live.close()
  })

  it('does not conflate topics outside the patterns', async () => {
    const live = await openEventStream(`${hub.url}/events?topic=news`)
    const answer = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { topic: 'news', data: '1' },
        { topic: 'news', data: '2' },
      ]),
    })
    expect(answer.status).toBe(200)
    expect((await live.count(2)).map((e) => e.data)).toEqual(['1', '2'])
    live.close()
  })
})

describe('herald serve --max-delivery-lag', () => {
  it('admits publishes while delivery keeps up and reports the lag', async () => {
    const answer = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'orders', data: 'x' }),
    })
    expect(answer.status).toBe(200)
    expect(await metric('herald_delivery_lag_seconds')).toBeGreaterThanOrEqual(0)
  })

  it('refuses an invalid conflation pattern at startup', async () => {
    await expect(startHubProcess({ args: ['--conflate', 'ticker/a*'] })).rejects.toThrow(/conflate/)
  })
})
