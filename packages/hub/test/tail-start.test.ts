/**
 * A node whose tail has not yet read where the log ends must not open streams: an event
 * appended after a client saw its stream open would fall before the tail's starting point and
 * never be delivered (a silent loss at node start, seen on NATS under load).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { EventStore } from '@herald/hub'
import { createHub, createMemoryEventStore } from '@herald/hub'
import { openEventStream } from '@herald/testkit'
import { afterEach, expect, it } from 'vitest'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A memory store whose `health()` (where the tail learns the log's end) waits for `open`. */
function heldStore(): { store: EventStore; asked: () => boolean; open: () => void } {
  const inner = createMemoryEventStore()
  let release!: () => void
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let asked = false
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'health') {
        return async () => {
          asked = true
          await gate
          return target.health()
        }
      }
      const value: unknown = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { store, asked: () => asked, open: release }
}

/** A hub on a held store, listening, once its node tail has asked the store where the log ends. */
async function startHeldHub() {
  const { store, asked, open } = heldStore()
  const hub = createHub({ store, stream: { heartbeatMs: 0 } })
  const server = createServer((req, res) => hub.handleNode(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    open()
    await hub.close()
    await store.close().catch(() => {})
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const deadline = Date.now() + 10_000
  while (!asked()) {
    if (Date.now() > deadline) throw new Error('the node tail never asked the store')
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { hub, url, open }
}

it('opens a stream only once the node tail knows where the log ends, so no event published after the open is lost', async () => {
  const { hub, url, open } = await startHeldHub()

  const opening = openEventStream(`${url}/events?topic=news`)
  // A bound, not a synchronisation: a loopback stream opens in a few ms when nothing holds it.
  const openedEarly = await Promise.race([
    opening.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), 300)),
  ])
  const [before] = await hub.publish({ topic: 'news', data: 'while the tail had no place' })
  open()
  const stream = await opening
  expect(stream.status).toBe(200)
  const [after] = await hub.publish({ topic: 'news', data: 'after the open' })
  const ids = (await stream.until((events) => events.some((e) => e.lastEventId === after?.id))).map(
    (e) => e.lastEventId,
  )
  // Every event published after the client saw its stream open reaches it.
  if (openedEarly) expect(ids).toContain(before?.id)
  expect(ids).toContain(after?.id)
  stream.close()
})

it('refuses a stream with 503 + Retry-After while the store never answers, and counts it', async () => {
  const { url } = await startHeldHub()
  const refused = await fetch(`${url}/events?topic=news`)
  expect(refused.status).toBe(503)
  expect(refused.headers.get('retry-after')).toBe('1')
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
    'HERALD_STORE_UNAVAILABLE',
  )
  const metrics = await (await fetch(`${url}/metrics`)).text()
  expect(metrics).toMatch(
    /^herald_stream_requests_rejected_total\{code="HERALD_STORE_UNAVAILABLE"\} 1$/m,
  )
})
