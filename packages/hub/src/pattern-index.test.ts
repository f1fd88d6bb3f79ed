import { topicMatches } from '@herald/store'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createPatternIndex } from './pattern-index.js'

const segment = fc.constantFrom('a', 'b', 'c', 'orders', '42')
const topicArb = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'))
const patternArb = fc
  .tuple(
    fc.array(fc.oneof(segment, fc.constant('*')), { minLength: 1, maxLength: 4 }),
    fc.boolean(),
  )
  .map(([segments, globstar]) => (globstar ? [...segments, '**'] : segments).join('/'))
  .filter((p) => p.includes('*'))

function matched(index: ReturnType<typeof createPatternIndex<number>>, topic: string): number[] {
  const out: number[] = []
  index.match(topic, (value) => out.push(value))
  return out.sort((a, b) => a - b)
}

describe('pattern index', () => {
  it('finds exactly the patterns topicMatches accepts, whatever was added and removed', () => {
    fc.assert(
      fc.property(
        fc.array(patternArb, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.array(topicArb, { minLength: 1, maxLength: 10 }),
        (patterns, removals, topics) => {
          const index = createPatternIndex<number>()
          patterns.forEach((pattern, i) => {
            index.add(pattern, i)
          })
          const live = new Set(patterns.map((_, i) => i))
          for (const r of removals) {
            const i = r % patterns.length
            index.delete(patterns[i] as string, i)
            live.delete(i)
          }
          expect(index.size).toBe(live.size)
          for (const topic of topics) {
            const expected = [...live].filter((i) => topicMatches(patterns[i] as string, topic))
            expect(matched(index, topic)).toEqual(expected.sort((a, b) => a - b))
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('reads ** as one or more segments, * as exactly one', () => {
    const index = createPatternIndex<string>()
    for (const p of ['orders/*', 'orders/**', '**', '*/42', 'orders/*/lines']) index.add(p, p)
    const hits = (topic: string): string[] => {
      const out: string[] = []
      index.match(topic, (v) => out.push(v))
      return out.sort()
    }
    expect(hits('orders')).toEqual(['**'])
    expect(hits('orders/42')).toEqual(['**', '*/42', 'orders/*', 'orders/**'])
    expect(hits('orders/42/lines')).toEqual(['**', 'orders/**', 'orders/*/lines'])
    expect(hits('users/42')).toEqual(['**', '*/42'])
  })

  it('prunes what it no longer needs and ignores unknown deletions', () => {
    const index = createPatternIndex<number>()
    index.add('a/*/c', 1)
    index.add('a/*/c', 1)
    expect(index.size).toBe(1)
    index.delete('a/*/d', 1)
    index.delete('a/*/c', 2)
    expect(index.size).toBe(1)
    index.delete('a/*/c', 1)
    expect(index.size).toBe(0)
    const out: number[] = []
    index.match('a/b/c', (v) => out.push(v))
    expect(out).toEqual([])
  })
})
