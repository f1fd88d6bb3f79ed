import { describe, expect, it } from 'vitest'
import { createRateLimiter } from './rate-limit.js'

describe('rate limiter', () => {
  it('allows a burst, then the sustained rate, per key', () => {
    let t = 0
    const limiter = createRateLimiter({ rate: 2, burst: 3 }, () => t)
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0])
    expect(limiter.take('a')).toBeCloseTo(0.5)
    expect(limiter.take('b')).toBe(0)
    t += 500
    expect(limiter.take('a')).toBe(0)
    expect(limiter.take('a')).toBeGreaterThan(0)
  })

  it('refuses nonsense options', () => {
    expect(() => createRateLimiter({ rate: 0 })).toThrow(TypeError)
    expect(() => createRateLimiter({ rate: 1, burst: 0 })).toThrow(TypeError)
  })
})
