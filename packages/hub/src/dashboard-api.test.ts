import type { Session } from '@herald/server'
import { describe, expect, it, vi } from 'vitest'
import type { ClientView } from './dashboard-api.js'
import { createTails, listClients, TAIL_MAX_PER_SECOND } from './dashboard-api.js'

function clients(n: number): ClientView[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `s-${i}`,
    ip: `127.0.${Math.floor(i / 250)}.${i % 250}`,
    topics: [i % 2 === 0 ? 'orders/eu' : 'prices/ACME'],
    since: i,
    queuedBytes: 0,
    lastEventId: null,
    subject: i === 7 ? 'alice' : null,
  }))
}

describe('listClients', () => {
  it('pages in connection order and says how many matched', () => {
    const all = clients(120)
    const page = listClients(all, all.length, { offset: 100, limit: 50 })
    expect(page).toMatchObject({ total: 120, matched: 120, offset: 100, limit: 50 })
    expect(page.clients.map((c) => c.id)).toEqual(all.slice(100).map((c) => c.id))
  })

  it('searches address, topic, id and subject, case-insensitively', () => {
    const all = clients(120)
    expect(listClients(all, 120, { q: 'PRICES/' }).matched).toBe(60)
    expect(listClients(all, 120, { q: 'alice' }).clients.map((c) => c.id)).toEqual(['s-7'])
    expect(listClients(all, 120, { q: '127.0.0.11' }).matched).toBe(11) // .11 and .110-.119
    expect(listClients(all, 120, { q: 's-119' }).matched).toBe(1)
  })

  it('bounds the page size', () => {
    const all = clients(1000)
    expect(listClients(all, 1000, { limit: 10_000 }).clients).toHaveLength(500)
    expect(listClients(all, 1000, { limit: 0 }).clients).toHaveLength(1)
  })

  it('stays fast at 15 000 subscribers (a search is one pass)', () => {
    const all = clients(15_000)
    const started = performance.now()
    for (let i = 0; i < 20; i++) listClients(all, all.length, { q: 'prices', offset: 5000 })
    // Reported, not asserted: timings never go into pass/fail tests.
    console.info(
      `listClients: ${((performance.now() - started) / 20).toFixed(2)} ms per search of 15000`,
    )
    expect(listClients(all, all.length, { q: 'prices', offset: 5000 }).clients).toHaveLength(50)
  })
})

describe('createTails', () => {
  function session() {
    const controller = new AbortController()
    const sent: Array<{ event?: string; data: string }> = []
    return {
      sent,
      controller,
      session: {
        signal: controller.signal,
        send: (e: { event?: string; data: string }) => {
          sent.push(e)
          return true
        },
      } as unknown as Session,
    }
  }
  const event = (i: number, topic: string) =>
    ({
      id: String(i),
      topic,
      data: `d${i}`,
      type: undefined,
      private: false,
      publishedAt: 0,
    }) as never

  it('sends matching events with their topic, caps the rate and counts the rest', () => {
    let now = 0
    const tails = createTails(() => now)
    const a = session()
    tails.add(a.session, 'orders/*')
    tails.dispatch([event(1, 'orders/eu'), event(2, 'prices/x')])
    expect(a.sent).toHaveLength(1)
    expect(JSON.parse(a.sent[0]?.data ?? '')).toMatchObject({ id: '1', topic: 'orders/eu' })
    tails.dispatch(Array.from({ length: 100 }, (_, i) => event(10 + i, 'orders/us')))
    expect(a.sent).toHaveLength(TAIL_MAX_PER_SECOND)
    now = 1000
    tails.dispatch([event(500, 'orders/eu')])
    expect(a.sent.at(-2)).toEqual({ event: 'dropped', data: JSON.stringify({ count: 51 }) })
    expect(a.sent.at(-1)?.event).toBe('event')
    a.controller.abort()
    expect(tails.size).toBe(0)
  })

  it('reports drops after a burst even when no event follows', () => {
    vi.useFakeTimers()
    try {
      let now = 0
      const tails = createTails(() => now)
      const a = session()
      tails.add(a.session, '**')
      tails.dispatch(Array.from({ length: TAIL_MAX_PER_SECOND + 7 }, (_, i) => event(i + 1, 'x')))
      expect(a.sent).toHaveLength(TAIL_MAX_PER_SECOND)
      now = 1500
      vi.advanceTimersByTime(1000)
      expect(a.sent.at(-1)).toEqual({ event: 'dropped', data: JSON.stringify({ count: 7 }) })
      a.controller.abort()
    } finally {
      vi.useRealTimers()
    }
  })
})
