import { compareCursors } from '@herald/store'
import { describe, expect, it } from 'vitest'
import { storedEvent } from '../test/fixtures.js'
import { createAdmission } from './admission.js'

const event = (seq: number, publishedAt = 0) => storedEvent(seq, { publishedAt })

/** An admission on a clock the test moves (no timer, no sleep). */
function setup(maxLagMs: number | undefined, pageSize = 1000) {
  let t = 1_000_000
  const admission = createAdmission({
    maxLagMs,
    pageSize,
    compare: compareCursors,
    now: () => t,
    sampleLoop: false,
  })
  return { admission, advance: (ms: number) => (t += ms), now: () => t }
}

describe('createAdmission', () => {
  it('measures the age of the oldest local append the tail has not dispatched', () => {
    const { admission, advance } = setup(500)
    expect(admission.lagMs()).toBe(0)
    admission.appended([event(1), event(2)])
    advance(300)
    admission.appended([event(3)])
    advance(300)
    expect(admission.lagMs()).toBe(600)
    admission.dispatched([event(1), event(2)])
    expect(admission.lagMs()).toBe(300)
    admission.dispatched([event(3)])
    expect(admission.lagMs()).toBe(0)
  })

  it('refuses past the bound with a Retry-After of the excess (at least 1 s), admits again once dispatched', () => {
    const { admission, advance } = setup(1000)
    admission.appended([event(1)])
    advance(1000)
    expect(admission.check()).toBeUndefined()
    advance(1)
    expect(admission.check()).toEqual({ lagMs: 1001, projectedMs: 1001, retryAfterS: 1 })
    advance(3000)
    expect(admission.check()).toEqual({ lagMs: 4001, projectedMs: 4001, retryAfterS: 4 })
    admission.dispatched([event(1)])
    expect(admission.check()).toBeUndefined()
  })

  it('does not track an append the tail dispatched before the append settled', () => {
    const { admission, advance } = setup(100)
    admission.dispatched([event(1), event(2)])
    admission.appended([event(1), event(2)])
    advance(10_000)
    expect(admission.lagMs()).toBe(0)
    expect(admission.check()).toBeUndefined()
  })

  it('counts events of other nodes while the tail reads full pages', () => {
    const { admission, advance, now } = setup(1000, 2)
    const t0 = now()
    advance(5000)
    admission.dispatched([event(1, t0), event(2, t0)])
    expect(admission.lagMs()).toBe(5000)
    expect(admission.check()?.retryAfterS).toBe(4)
    // A short page: the tail caught up with the log.
    admission.dispatched([event(3, now())])
    expect(admission.lagMs()).toBe(0)
  })

  it("counts the stream server's write lag: refuses while frames wait past the bound for their write, admits once written", () => {
    let writeLag = 0
    let t = 1_000_000
    const admission = createAdmission({
      maxLagMs: 1000,
      pageSize: 1000,
      compare: compareCursors,
      now: () => t,
      sampleLoop: false,
      writeLagMs: () => writeLag,
    })
    // Every event was handed to the queues (nothing appended waits), but a pass over the
    // subscribers' writes is 1.5 s behind: the delivery lag is that.
    admission.appended([event(1)])
    admission.dispatched([event(1)])
    t += 5000
    writeLag = 1500
    expect(admission.lagMs()).toBe(1500)
    expect(admission.check()).toEqual({ lagMs: 1500, projectedMs: 1500, retryAfterS: 1 })
    writeLag = 1000
    expect(admission.check()).toBeUndefined()
    writeLag = 0
    expect(admission.lagMs()).toBe(0)
  })

  it('refuses by the delay an admitted event would see: its wait for the writes, after the queue lag', () => {
    let writeLag = 0
    let writeDelay = 0
    let t = 1_000_000
    const admission = createAdmission({
      maxLagMs: 1000,
      pageSize: 1000,
      compare: compareCursors,
      now: () => t,
      sampleLoop: false,
      writeLagMs: () => writeLag,
      writeDelayMs: () => writeDelay,
    })
    // Frames have waited 600 ms, and a frame queued now would wait 1.3 s for its write (the
    // rest of the pass in progress and the next one): refused, though the lag alone (600 ms)
    // would admit it.
    writeLag = 600
    writeDelay = 1300
    expect(admission.lagMs()).toBe(600)
    expect(admission.check()).toEqual({ lagMs: 600, projectedMs: 1300, retryAfterS: 1 })
    // Passes got shorter: admitted again.
    writeDelay = 700
    expect(admission.check()).toBeUndefined()
    // An append of this node the tail has not handed over for 500 ms: the new event reaches
    // the queues that late too, then waits for the writes.
    admission.appended([event(1)])
    t += 500
    expect(admission.check()).toEqual({ lagMs: 600, projectedMs: 1200, retryAfterS: 1 })
    admission.dispatched([event(1)])
    expect(admission.check()).toBeUndefined()
    // Older frames past the bound: refused whatever the estimate.
    writeLag = 2500
    writeDelay = 100
    expect(admission.check()).toEqual({ lagMs: 2500, projectedMs: 2500, retryAfterS: 2 })
    // Nothing waits: admitted.
    writeLag = 0
    writeDelay = 0
    expect(admission.check()).toBeUndefined()
  })

  it('counts the frames of appends the tail has not dispatched yet in the write delay, at the frames per event of the batches dispatched', () => {
    const asked: number[] = []
    const admission = createAdmission({
      maxLagMs: 1000,
      pageSize: 1000,
      compare: compareCursors,
      now: () => 1_000_000,
      sampleLoop: false,
      // 10 frames written per ms, nothing queued yet.
      writeDelayMs: (frames) => {
        asked.push(frames)
        return frames / 10
      },
    })
    // Nothing appended: no frames to come.
    expect(admission.check()).toBeUndefined()
    // A batch of 2 events put 8000 frames in subscribers' queues: 4000 per event.
    admission.dispatched([event(1), event(2)], 8000)
    // Two appends (3 events) not dispatched yet: 12 000 frames to come, 1.2 s of writes.
    admission.appended([event(3), event(4)])
    admission.appended([event(5)])
    expect(admission.check()).toEqual({ lagMs: 0, projectedMs: 1200, retryAfterS: 1 })
    // The first append dispatched (2 events, 1000 frames each this time: a conflated topic's
    // batch puts fewer frames in the queues): frames over events with the older batch at half
    // weight, (8000 / 2 + 2000) / (2 / 2 + 2) = 2000 per event; one event waits: 200 ms.
    admission.dispatched([event(3), event(4)], 2000)
    expect(admission.check()).toBeUndefined()
    admission.dispatched([event(5)], 3000)
    expect(admission.check()).toBeUndefined()
    expect(asked).toEqual([0, 12_000, 2000, 0])
  })

  it('only measures without a bound', () => {
    const { admission, advance } = setup(undefined)
    admission.appended([event(1)])
    advance(60_000)
    expect(admission.lagMs()).toBe(60_000)
    expect(admission.check()).toBeUndefined()
  })

  it('refuses a bound that is not a positive number', () => {
    expect(() => setup(0)).toThrow(TypeError)
    expect(() => setup(Number.NaN)).toThrow(TypeError)
  })
})
