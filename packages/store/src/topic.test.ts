import { isHeraldError } from '@herald/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  assertValidTopic,
  assertValidTopicPattern,
  createTopicMatcher,
  patternCovers,
  topicMatches,
} from './topic.js'

function code(fn: () => void): string | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    return isHeraldError(error) ? error.code : 'other'
  }
}

describe('topics', () => {
  it('accepts plain and URL topics, refuses empty, long, spaced and wildcard ones', () => {
    for (const ok of ['orders', 'orders/42', 'https://example.com/books/1', 'a//b', 'é/😀']) {
      expect(
        code(() => assertValidTopic(ok)),
        ok,
      ).toBeUndefined()
    }
    for (const bad of ['', 'a b', 'a\nb', 'a\u0000', 'orders/*', 'x'.repeat(1025), 42]) {
      expect(
        code(() => assertValidTopic(bad)),
        String(bad),
      ).toBe('HERALD_INVALID_TOPIC')
    }
  })

  it('accepts whole-segment wildcards, ** only last', () => {
    for (const ok of ['orders/*', '*/lines', 'orders/**', '**', '*', 'a/*/c/**']) {
      expect(
        code(() => assertValidTopicPattern(ok)),
        ok,
      ).toBeUndefined()
    }
    for (const bad of ['ord*', 'orders/**/x', 'a/***', 'a/*b']) {
      expect(
        code(() => assertValidTopicPattern(bad)),
        bad,
      ).toBe('HERALD_INVALID_TOPIC')
    }
  })

  it('matches * as one segment and ** as one or more', () => {
    expect(topicMatches('orders/*', 'orders/42')).toBe(true)
    expect(topicMatches('orders/*', 'orders/42/lines')).toBe(false)
    expect(topicMatches('orders/*', 'orders')).toBe(false)
    expect(topicMatches('orders/**', 'orders/42/lines')).toBe(true)
    expect(topicMatches('orders/**', 'orders')).toBe(false)
    expect(topicMatches('**', 'anything/at/all')).toBe(true)
    expect(topicMatches('*/42', 'orders/42')).toBe(true)
    const matcher = createTopicMatcher(['a', 'b/*'])
    expect(['a', 'b/1', 'b', 'c', 'b/1/2'].map((t) => matcher.matches(t))).toEqual([
      true,
      true,
      false,
      false,
      false,
    ])
  })

  it('a compiled matcher agrees with topicMatches on every topic, ** included (property)', () => {
    const segment = fc.constantFrom('a', 'b', '*', '**')
    const pattern = fc
      .array(segment, { minLength: 1, maxLength: 3 })
      .filter((segs) => !segs.slice(0, -1).includes('**'))
      .map((segs) => segs.join('/'))
    const topic = fc
      .array(fc.constantFrom('a', 'b', 'c', ''), { minLength: 1, maxLength: 4 })
      .map((segs) => segs.join('/'))
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 3 }), topic, (patterns, name) => {
        const expected = patterns.some((p) => topicMatches(p, name))
        expect(createTopicMatcher(patterns).matches(name)).toBe(expected)
      }),
    )
    expect(createTopicMatcher(['**']).matches('any/topic/at/all')).toBe(true)
    expect(createTopicMatcher(['x', '**']).matches('y')).toBe(true)
  })

  it('patternCovers agrees with matching on every topic (property)', () => {
    const segment = fc.constantFrom('a', 'b', '*')
    const pattern = fc
      .tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.boolean())
      .map(([segs, deep]) => (deep ? [...segs, '**'] : segs).join('/'))
    const topic = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 5 })
    fc.assert(
      fc.property(
        pattern,
        pattern,
        fc.array(topic, { maxLength: 30 }),
        (granted, requested, topics) => {
          if (!patternCovers(granted, requested)) return
          for (const t of topics) {
            const name = t.join('/')
            if (topicMatches(requested, name)) expect(topicMatches(granted, name)).toBe(true)
          }
        },
      ),
    )
    expect(patternCovers('orders/**', 'orders/*')).toBe(true)
    expect(patternCovers('orders/*', 'orders/**')).toBe(false)
    expect(patternCovers('orders/*', 'orders/42')).toBe(true)
    expect(patternCovers('orders/42', 'orders/*')).toBe(false)
  })
})
