import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { backoffDelay, parseRetryAfter } from './backoff.js'

describe('backoffDelay', () => {
  it('draws uniformly from [0, min(maxMs, initialMs * 2^failures)) (full jitter)', () => {
    expect(backoffDelay(0, 1000, 30_000, 0, 0)).toBe(0)
    expect(backoffDelay(0, 1000, 30_000, 0, 0.5)).toBe(500)
    expect(backoffDelay(0, 1000, 30_000, 0, 0.999)).toBe(999)
    expect(backoffDelay(3, 1000, 30_000, 0, 0.5)).toBe(4000)
    expect(backoffDelay(10, 1000, 30_000, 0, 0.5)).toBe(15_000)
    expect(backoffDelay(10_000, 1000, 30_000, 0, 0.999)).toBe(29_970)
  })

  it('never goes below the server floor (retry: or Retry-After), even past maxMs', () => {
    expect(backoffDelay(0, 1000, 30_000, 3000, 0.1)).toBe(3000)
    expect(backoffDelay(8, 1000, 30_000, 3000, 0.5)).toBe(15_000)
    expect(backoffDelay(8, 1000, 30_000, 60_000, 0.5)).toBe(60_000)
  })

  it('stays an integer within [floor, max(floor, maxMs)) for any input', () => {
    fc.assert(
      fc.property(
        fc.nat(100),
        fc.nat(60_000),
        fc.nat(120_000),
        fc.nat(120_000),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, initialMs, extra, floor, random) => {
          const maxMs = initialMs + extra
          const delay = backoffDelay(failures, initialMs, maxMs, floor, random)
          expect(Number.isInteger(delay)).toBe(true)
          expect(delay).toBeGreaterThanOrEqual(floor)
          expect(delay).toBeLessThanOrEqual(Math.max(floor, maxMs))
        },
      ),
    )
  })
})

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('3', now)).toBe(3000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000)
  })
  it('ignores absent, past, negative and garbage values', () => {
    expect(parseRetryAfter(null, now)).toBe(0)
    expect(parseRetryAfter('', now)).toBe(0)
    expect(parseRetryAfter('-5', now)).toBe(0)
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBe(0)
  })
  it('caps huge values at the largest timer delay', () => {
    expect(parseRetryAfter('99999999999', now)).toBe(2 ** 31 - 1)
  })
})
