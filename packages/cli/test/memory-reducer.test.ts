import { describe, expect, it } from 'vitest'
import { compactingGc, createMemoryReducer } from '../src/commands/memory-reducer.js'

const MiB = 1024 * 1024
const idle = (mib: number) => ({ committedBytes: mib * MiB, utilization: 0.01 })
const busy = (mib: number) => ({ committedBytes: mib * MiB, utilization: 0.9 })

describe('memory reducer rules', () => {
  it('does nothing while the heap stays near its baseline', () => {
    const reducer = createMemoryReducer()
    for (let i = 0; i < 100; i++) expect(reducer.tick(idle(20 + (i % 5)))).toBe(false)
    expect(reducer.collections).toBe(0)
  })

  it('waits for the burst to end, then collects at least twice and while it gains', () => {
    const reducer = createMemoryReducer()
    expect(reducer.tick(idle(20))).toBe(false)
    // The burst: the heap grows while the loop is busy.
    expect(reducer.tick(busy(40))).toBe(false)
    expect(reducer.tick(busy(62))).toBe(false)
    // Idle again: one idle tick is not enough.
    expect(reducer.tick(idle(62))).toBe(false)
    expect(reducer.tick(idle(62))).toBe(true)
    // The first GC freed garbage only (no gain): a second one still runs.
    expect(reducer.tick(idle(62))).toBe(true)
    // It compacted: one more.
    expect(reducer.tick(idle(50))).toBe(true)
    // Less than 1 MiB gained: done.
    expect(reducer.tick(idle(49.5))).toBe(false)
    expect(reducer.reductions).toBe(1)
    expect(reducer.collections).toBe(3)
    // The new baseline is the reduced heap: no new reduction for the same streams.
    for (let i = 0; i < 100; i++) expect(reducer.tick(idle(50))).toBe(false)
  })

  it('stops a reduction when the loop gets busy, and caps the GCs per reduction', () => {
    const reducer = createMemoryReducer()
    reducer.tick(idle(20))
    reducer.tick(busy(40))
    expect(reducer.tick(idle(40))).toBe(false)
    expect(reducer.tick(idle(40))).toBe(true)
    expect(reducer.tick(busy(40))).toBe(false)
    expect(reducer.collections).toBe(1)
    const capped = createMemoryReducer({ maxCollections: 3, minTicksBetween: 1000 })
    capped.tick(busy(100))
    capped.tick(busy(200))
    let runs = 0
    // Each GC gains 10 MiB, but three is the cap.
    for (let mib = 200; mib > 100; mib -= 10) if (capped.tick(idle(mib))) runs++
    expect(runs).toBe(3)
    expect(capped.reductions).toBe(1)
  })

  it('starts again at the next idle spell when work cut a reduction short before it compacted', () => {
    const reducer = createMemoryReducer()
    reducer.tick(busy(20))
    reducer.tick(busy(60))
    reducer.tick(idle(60))
    expect(reducer.tick(idle(60))).toBe(true)
    // Busy before the second (compacting) GC: abandoned.
    expect(reducer.tick(busy(60))).toBe(false)
    expect(reducer.tick(idle(60))).toBe(false)
    // Idle again: a new reduction right away, not a minute later.
    expect(reducer.tick(idle(60))).toBe(true)
    expect(reducer.tick(idle(60))).toBe(true)
    expect(reducer.tick(idle(45))).toBe(true)
    expect(reducer.tick(idle(45))).toBe(false)
    expect(reducer.reductions).toBe(2)
    // Done after its second GC: the gap applies from here.
    for (let i = 0; i < 20; i++) expect(reducer.tick(idle(60))).toBe(false)
  })

  it('starts reductions at most once per minTicksBetween ticks', () => {
    const reducer = createMemoryReducer({ minTicksBetween: 10, maxCollections: 1 })
    const starts: number[] = []
    // The heap keeps growing 10 MiB per tick, past every new baseline.
    for (let tick = 1; tick <= 25; tick++) if (reducer.tick(idle(10 + tick * 10))) starts.push(tick)
    expect(starts).toEqual([2, 12, 22])
    expect(reducer.reductions).toBe(3)
  })
})

describe('compactingGc', () => {
  it('runs a full GC that frees unreachable objects', async () => {
    // A WeakRef keeps its target alive until the end of the current job: look after it.
    const weak = ((): WeakRef<object> =>
      new WeakRef(Array.from({ length: 1e4 }, (_, i) => ({ i }))))()
    await new Promise((resolve) => setImmediate(resolve))
    compactingGc()
    expect(weak.deref()).toBeUndefined()
    // Twice: the GC function is made once and reused.
    const again = ((): WeakRef<object> => new WeakRef({ again: true }))()
    await new Promise((resolve) => setImmediate(resolve))
    compactingGc()
    expect(again.deref()).toBeUndefined()
  })
})
