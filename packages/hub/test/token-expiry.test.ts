/**
 * Subscribers whose token expires are closed by one sweep for all of them, not a timer each
 * (a Timeout, its closure and context: about 250 bytes per subscriber with authorization on).
 */
import { createMemoryEventStore, type Hub, mintToken } from '@herald/hub'
import { openEventStream } from '@herald/testkit'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { listenHub } from './fixtures.js'

const SECRET = 'expiry-test-secret-0123456789abcdef'
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function start(): Promise<{ url: string; hub: Hub }> {
  return listenHub(
    { store: createMemoryEventStore(), auth: { jwtSecret: SECRET }, stream: { heartbeatMs: 0 } },
    cleanups,
  )
}

/** Opens a stream with `token`; resolves once its headers are in, with a promise of its end. */
async function subscribe(url: string, token: string): Promise<{ ended: Promise<unknown> }> {
  const stream = await openEventStream(`${url}/events?topic=t`, {
    authorization: `Bearer ${token}`,
  })
  expect(stream.status).toBe(200)
  cleanups.push(async () => stream.close())
  // In an object: an async function returning the promise itself would wait for it.
  return { ended: stream.ended }
}

describe('token expiry', () => {
  it('watches every expiring subscriber with one interval, no timer per subscriber', async () => {
    const { url, hub } = await start()
    const token = await mintToken({ secret: SECRET, subscribe: ['t'], ttlSeconds: 3600 })
    const timeouts = vi.spyOn(globalThis, 'setTimeout')
    const intervals = vi.spyOn(globalThis, 'setInterval')
    for (let i = 0; i < 30; i++) await subscribe(url, token)
    await vi.waitFor(() => expect(hub.streams.size).toBe(30))
    // The token's hour: no timer that long per subscriber, one sweep for them all.
    const long = (calls: unknown[][]) => calls.filter((call) => Number(call[1]) >= 60_000).length
    expect(long(timeouts.mock.calls)).toBe(0)
    expect(intervals.mock.calls.filter((call) => call[1] === 1000).length).toBe(1)
  })

  it('still closes each subscriber once its token has expired', async () => {
    const { url, hub } = await start()
    const ends: Promise<unknown>[] = []
    for (let i = 0; i < 5; i++) {
      const token = await mintToken({ secret: SECRET, subscribe: ['t'], ttlSeconds: 2 })
      ends.push((await subscribe(url, token)).ended)
    }
    const lasting = await mintToken({ secret: SECRET, subscribe: ['t'], ttlSeconds: 3600 })
    await subscribe(url, lasting)
    await Promise.all(ends)
    // The hour-long one is still open.
    expect(hub.streams.size).toBe(1)
  })
})
