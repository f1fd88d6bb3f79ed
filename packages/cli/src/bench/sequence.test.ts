import { describe, expect, it } from 'vitest'
import { decodePayload, encodePayload } from './payload.js'
import { SequenceTracker } from './sequence.js'

describe('SequenceTracker', () => {
  it('counts nothing wrong for 1..n in order', () => {
    const t = new SequenceTracker()
    for (let i = 1; i <= 100; i++) t.see(i)
    expect(t.counts(100)).toEqual({
      received: 100,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      conflated: 0,
    })
  })

  it('counts gaps and a missing tail as lost, a repeat as duplicated', () => {
    const t = new SequenceTracker()
    for (const s of [1, 2, 5, 6, 6, 9]) t.see(s)
    // Missing 3, 4, 7, 8 and 10..12.
    expect(t.counts(12)).toEqual({
      received: 6,
      lost: 7,
      duplicated: 1,
      outOfOrder: 0,
      conflated: 0,
    })
  })

  it('a late arrival fills its gap: out of order only when it had been answered before a later one was sent', () => {
    const ordered = new SequenceTracker()
    for (const s of [1, 3, 2]) ordered.see(s) // default settled = seq - 1: strictly ordered
    expect(ordered.counts(3)).toEqual({
      received: 3,
      lost: 0,
      duplicated: 0,
      outOfOrder: 1,
      conflated: 0,
    })

    const concurrent = new SequenceTracker()
    concurrent.see(1, 0)
    concurrent.see(3, 1) // sent while 2 was still in flight
    concurrent.see(2, 1)
    expect(concurrent.counts(3)).toEqual({
      received: 3,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      conflated: 0,
    })
  })

  it('a gap filled in the middle splits it', () => {
    const t = new SequenceTracker()
    for (const s of [1, 10, 5]) t.see(s)
    expect(t.counts(10).lost).toBe(7)
    t.see(5)
    expect(t.counts(10)).toMatchObject({ lost: 7, duplicated: 1 })
  })

  it('does not expect publishes that failed', () => {
    const t = new SequenceTracker()
    for (const s of [1, 2, 4]) t.see(s)
    expect(t.counts(5, new Set([3, 5])).lost).toBe(0)
    expect(t.counts(5, new Set([5])).lost).toBe(1)
  })
})

describe('payload', () => {
  it('round-trips and is found inside a wrapped body', () => {
    const data = encodePayload(42, 1234.5, 100, 40)
    expect(data).toHaveLength(100)
    expect(decodePayload(data)).toEqual({ seq: 42, sentMs: 1234.5, settled: 40 })
    expect(decodePayload(JSON.stringify({ topic: 't', data }))).toEqual({
      seq: 42,
      sentMs: 1234.5,
      settled: 40,
    })
    expect(decodePayload('hello')).toBeUndefined()
    expect(decodePayload('hb1:0:1:0:')).toBeUndefined()
  })

  it('with conflated, counts skips a later event followed as conflated, not lost; a missing newest is still lost', () => {
    const t = new SequenceTracker({ conflated: true })
    for (const s of [1, 4, 5, 9]) t.see(s)
    expect(t.counts(9)).toEqual({
      received: 4,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      conflated: 5,
    })
    expect(t.counts(10).lost).toBe(1)
    // A refused publish in a skip was never there to conflate.
    expect(t.counts(9, new Set([2])).conflated).toBe(4)
    // Strictly ordered publishes: an older one arriving after a newer one is out of order.
    t.see(3)
    expect(t.counts(9).outOfOrder).toBe(1)
  })
})
