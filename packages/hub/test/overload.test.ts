/**
 * Overload, driven deterministically: the node's tail is paused (its store reads wait on a
 * gate the test opens), so delivery lags by construction, never by timing. Real node:http
 * server on port 0, real memory store, real HTTP publishes and event streams.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { EventStore, Hub, HubOptions } from '@herald/hub'
import { createHub, createMemoryEventStore } from '@herald/hub'
import { openEventStream } from '@herald/testkit'
import { afterEach, describe, expect, it } from 'vitest'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A memory store whose reads wait while the gate is shut: a paused node tail. */
function gatedStore(): { store: EventStore; pause(): void; resume(): void; inner: EventStore } {
  const inner = createMemoryEventStore()
  let gate: Promise<void> | undefined
  let open: (() => void) | undefined
  return {
    inner,
    store: {
      cursors: inner.cursors,
      append: (events) => inner.append(events),
      async read(cursor, filter) {
        while (gate !== undefined) await gate
        return inner.read(cursor, filter)
      },
      watch: (signal) => inner.watch(signal),
      health: () => inner.health(),
      close: () => inner.close(),
    },
    pause() {
      gate ??= new Promise((resolve) => {
        open = resolve
      })
    },
    resume() {
      gate = undefined
      open?.()
    },
  }
}

async function start(options: Partial<HubOptions>) {
  const gated = gatedStore()
  const hub = createHub({ store: gated.store, stream: { heartbeatMs: 0 }, ...options })
  const server = createServer((req, res) => hub.handleNode(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    gated.resume()
    await hub.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { ...gated, hub, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

function publish(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

async function metric(hub: Hub, name: string): Promise<number> {
  const text = await hub.metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

async function logSize(store: EventStore): Promise<number> {
  const page = await store.read(undefined, { topics: ['**'], limit: 1000 })
  return page.kind === 'events' ? page.events.length : -1
}

describe('publish admission (maxDeliveryLagMs)', () => {
  it('refuses with 503 and Retry-After while delivery lags past the bound, appends nothing, and admits again once the tail catches up', async () => {
    const { hub, url, inner, pause, resume } = await start({ maxDeliveryLagMs: 1000 })
    const stream = await openEventStream(`${url}/events?topic=orders`)
    await eventually(async () => hub.subscribers === 1, 'the subscriber')
    expect((await publish(url, { topic: 'orders', data: 'first' })).status).toBe(200)
    await stream.count(1)

    pause()
    // Admitted: nothing waits yet. Then the paused tail leaves it undelivered.
    expect((await publish(url, { topic: 'orders', data: 'late' })).status).toBe(200)
    // The lag grows while the tail is paused (a bound of 1 s leaves room for the event loop's
    // own delay on a loaded machine, which the lag also counts).
    await eventually(async () => (await metric(hub, 'herald_delivery_lag_seconds')) > 1, 'lag')
    const refused = await publish(url, { topic: 'orders', data: 'refused' })
    expect(refused.status).toBe(503)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await refused.json()).toMatchObject({ error: { code: 'HERALD_DELIVERY_LAGGING' } })
    // A Mercure form publish goes through the same admission.
    const form = await fetch(`${url}/.well-known/mercure`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'topic=orders&data=form',
    })
    expect(form.status).toBe(503)
    expect(await logSize(inner)).toBe(2)
    expect(await metric(hub, 'herald_publish_errors_total{code="HERALD_DELIVERY_LAGGING"}')).toBe(2)

    resume()
    await stream.count(2)
    await eventually(
      async () => (await metric(hub, 'herald_delivery_lag_seconds')) < 1,
      'lag below the bound',
    )
    expect((await publish(url, { topic: 'orders', data: 'again' })).status).toBe(200)
    const events = await stream.count(3)
    expect(events.map((e) => e.data)).toEqual(['first', 'late', 'again'])
    stream.close()
  })

  it('without a bound measures the lag but never refuses', async () => {
    const { hub, url, pause } = await start({})
    pause()
    expect((await publish(url, { topic: 'orders', data: 'a' })).status).toBe(200)
    await eventually(async () => (await metric(hub, 'herald_delivery_lag_seconds')) > 0.02, 'lag')
    expect((await publish(url, { topic: 'orders', data: 'b' })).status).toBe(200)
  })

  it('refuses an invalid bound', () => {
    expect(() => createHub({ store: createMemoryEventStore(), maxDeliveryLagMs: 0 })).toThrow(
      /maxDeliveryLagMs/,
    )
  })
})

describe('conflation (conflate)', () => {
  it('skips, for live subscribers, only events a newer one of the same key superseded while delivery was behind; order kept, newest delivered, counted; replay has every event', async () => {
    const { hub, url, pause, resume } = await start({ conflate: ['ticker/*'] })
    const live = await openEventStream(`${url}/events?topic=ticker/*&topic=news`)
    await eventually(async () => hub.subscribers === 1, 'the subscriber')
    expect((await publish(url, { topic: 'ticker/a', data: 'a0' })).status).toBe(200)
    await live.count(1)

    pause()
    const sent = [
      { topic: 'ticker/a', data: 'a1' },
      { topic: 'ticker/b', data: 'b1' },
      { topic: 'news', data: 'n1' },
      { topic: 'ticker/a', data: 'a2' },
      { topic: 'ticker/a', data: 's1', event: 'status' },
      { topic: 'news', data: 'n2' },
      { topic: 'ticker/a', data: 'a3' },
    ]
    // One publish per event: the paused tail later reads them as one batch.
    for (const event of sent) expect((await publish(url, event)).status).toBe(200)
    resume()
    await live.until((events) => events.some((e) => e.data === 'a3'))
    expect(live.events.map((e) => e.data)).toEqual(['a0', 'b1', 'n1', 's1', 'n2', 'a3'])
    // Ids still increase: the newer event goes out in its own place.
    const ids = live.events.map((e) => e.lastEventId)
    expect([...ids].sort()).toEqual(ids)
    expect(await metric(hub, 'herald_events_conflated_total')).toBe(2)
    expect(await metric(hub, 'herald_events_delivered_total')).toBe(6)

    // The log keeps every event: a resume from the first id replays all of them.
    const replay = await openEventStream(`${url}/events?topic=ticker/*&topic=news`, {
      'last-event-id': ids[0] as string,
    })
    const replayed = await replay.count(sent.length)
    expect(replayed.map((e) => e.data)).toEqual(sent.map((e) => e.data))
    replay.close()
    live.close()
  })

  it('leaves topics that did not opt in alone', async () => {
    const { hub, url, pause, resume } = await start({ conflate: ['ticker/*'] })
    const live = await openEventStream(`${url}/events?topic=prices/a`)
    await eventually(async () => hub.subscribers === 1, 'the subscriber')
    pause()
    for (const data of ['1', '2', '3']) {
      expect((await publish(url, { topic: 'prices/a', data })).status).toBe(200)
    }
    resume()
    expect((await live.count(3)).map((e) => e.data)).toEqual(['1', '2', '3'])
    expect(await metric(hub, 'herald_events_conflated_total')).toBe(0)
    live.close()
  })
})
