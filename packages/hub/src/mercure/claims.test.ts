import { describe, expect, it } from 'vitest'
import { MERCURE_DETAIL_TYPE, mercureGrantsOf, payloadFor } from './claims.js'

const BASE = 'https://hub.example/.well-known/mercure'

describe('mercureGrantsOf', () => {
  it('is undefined without a Mercure claim', () => {
    expect(mercureGrantsOf({ sub: 'x' }, BASE)).toBeUndefined()
  })

  it('reads the draft-07 mercure claim as URI-template selectors, with its payload', () => {
    const g = mercureGrantsOf(
      {
        mercure: {
          publish: ['https://example.com/books/{id}'],
          subscribe: ['*'],
          payload: { user: 1 },
        },
      },
      BASE,
    )
    expect(g?.publish[0]?.matches('https://example.com/books/7')).toBe(true)
    expect(g?.publish[0]?.matches('https://example.com/authors/7')).toBe(false)
    expect(g?.subscribe[0]?.all).toBe(true)
    expect(payloadFor(g, 'anything')).toEqual({ user: 1 })
  })

  it('reads authorization_details: actions, match_type (exact by default), payload', () => {
    const g = mercureGrantsOf(
      {
        authorization_details: [
          { type: 'https://other.example/detail', whatever: true },
          {
            type: MERCURE_DETAIL_TYPE,
            actions: ['publish', 'future-action'],
            topics: [{ match: 'https://example.com/a' }],
          },
          {
            type: MERCURE_DETAIL_TYPE,
            actions: ['subscribe'],
            topics: [{ match: 'https://example.com/bar/:id', match_type: 'urlpattern' }],
            payload: { custom: 2 },
          },
          {
            type: MERCURE_DETAIL_TYPE,
            actions: ['subscribe'],
            topics: [{ match: '*' }],
            payload: { custom: 3 },
          },
        ],
      },
      BASE,
    )
    expect(g?.publish.map((s) => s.value)).toEqual(['https://example.com/a'])
    expect(g?.publish[0]?.matches('https://example.com/a')).toBe(true)
    expect(g?.subscribe[0]?.matches('https://example.com/bar/1')).toBe(true)
    expect(payloadFor(g, 'https://example.com/bar/:id')).toEqual({ custom: 2 })
    expect(payloadFor(g, 'https://example.com/other')).toEqual({ custom: 3 })
  })

  it('unknown actions alone grant nothing but keep the token valid', () => {
    const g = mercureGrantsOf(
      {
        authorization_details: [
          { type: MERCURE_DETAIL_TYPE, actions: ['admin'], topics: [{ match: '*' }] },
        ],
      },
      BASE,
    )
    expect(g?.publish).toEqual([])
    expect(g?.subscribe).toEqual([])
  })

  it('rejects the whole token for any malformed Mercure detail (401, no partial grants)', () => {
    const bad: unknown[] = [
      'not-an-array',
      [{ type: MERCURE_DETAIL_TYPE, actions: [], topics: [{ match: '*' }] }],
      [{ type: MERCURE_DETAIL_TYPE, actions: ['publish', 3], topics: [{ match: '*' }] }],
      [{ type: MERCURE_DETAIL_TYPE, actions: ['publish'], topics: [] }],
      [{ type: MERCURE_DETAIL_TYPE, actions: ['publish'], topics: ['*'] }],
      [
        {
          type: MERCURE_DETAIL_TYPE,
          actions: ['publish'],
          topics: [{ match: 'x', match_type: 'regex' }],
        },
      ],
      [
        {
          type: MERCURE_DETAIL_TYPE,
          actions: ['publish'],
          topics: [{ match: 'https://x/(a+)+', match_type: 'urlpattern' }],
        },
      ],
      [
        {
          type: MERCURE_DETAIL_TYPE,
          actions: ['subscribe'],
          topics: [{ match: '*' }],
          payload: 'str',
        },
      ],
      [{ type: MERCURE_DETAIL_TYPE, actions: ['publish'], topics: [{ match: '*' }] }, 42],
    ]
    for (const details of bad) {
      expect(() => mercureGrantsOf({ authorization_details: details }, BASE)).toThrow(
        expect.objectContaining({ code: 'HERALD_UNAUTHORIZED', status: 401 }),
      )
    }
    expect(() => mercureGrantsOf({ mercure: { publish: 'x' } }, BASE)).toThrow(/must be an array/)
    expect(() => mercureGrantsOf({ mercure: [] }, BASE)).toThrow(/must be an object/)
  })
})
