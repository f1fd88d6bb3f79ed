import { isHeraldError } from '@herald/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  jsonDepthExceeds,
  MAX_EVENT_TYPE_LENGTH,
  MAX_JSON_DEPTH,
  parseFormPublish,
  parseJsonPublish,
  RETRY_RANGE_MS,
} from './publish-request.js'

const limits = { maxPayloadBytes: 10, maxBatch: 3 }

function code(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    return isHeraldError(error) ? error.code : 'other'
  }
}

describe('publish requests', () => {
  it('serialises JSON data and keeps strings as they are', () => {
    const roomy = { maxPayloadBytes: 100, maxBatch: 3 }
    const { events, batch } = parseJsonPublish(
      '{"topic":"t","data":{"a":[1,2]},"event":"e","id":"c1","retry":1500,"private":true}',
      roomy,
    )
    expect(batch).toBe(false)
    expect(events).toEqual([
      { topic: 't', data: '{"a":[1,2]}', type: 'e', clientId: 'c1', retry: 1500, private: true },
    ])
    expect(parseJsonPublish('{"topic":"t","data":"a\\nb"}', limits).events[0]?.data).toBe('a\nb')
    expect(parseJsonPublish('{"topic":"t","data":null}', limits).events[0]?.data).toBe('null')
    expect(
      parseJsonPublish('{"topic":"t","data":"x","type":"alias"}', limits).events[0]?.type,
    ).toBe('alias')
  })

  it('counts the payload limit in UTF-8 bytes', () => {
    expect(
      code(() => parseJsonPublish(JSON.stringify({ topic: 't', data: 'é'.repeat(5) }), limits)),
    ).toBeUndefined()
    expect(
      code(() => parseJsonPublish(JSON.stringify({ topic: 't', data: 'é'.repeat(6) }), limits)),
    ).toBe('HERALD_PAYLOAD_TOO_LARGE')
    expect(
      code(() => parseJsonPublish(JSON.stringify({ topic: 't', data: '😀😀😀' }), limits)),
    ).toBe('HERALD_PAYLOAD_TOO_LARGE')
  })

  it('names the failing event of a batch, and bounds the batch', () => {
    let message = ''
    try {
      parseJsonPublish('[{"topic":"t","data":"ok"},{"topic":"t","data":"x","id":"a\\nb"}]', limits)
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toMatch(/^events\[1\]: /)
    expect(
      code(() => parseJsonPublish(JSON.stringify(Array(4).fill({ topic: 't', data: '' })), limits)),
    ).toBe('HERALD_PAYLOAD_TOO_LARGE')
    expect(
      code(() => parseJsonPublish('{"topic":"t","data":"x","event":"a","type":"b"}', limits)),
    ).toBe('HERALD_INVALID_PUBLISH')
  })

  it('reads Mercure forms: ONE update, first topic canonical, the others alternates', () => {
    const events = parseFormPublish(
      'topic=a&topic=b&topic=a&data=hi&id=u1&type=t&retry=3000&private=on&future=1',
      limits,
    )
    expect(events).toEqual([
      {
        topic: 'a',
        alternates: ['b'],
        data: 'hi',
        type: 't',
        clientId: 'u1',
        retry: 3000,
        private: true,
      },
    ])
    expect(parseFormPublish('topic=a', limits)[0]?.alternates).toBeUndefined()
  })

  it('private with any value (0, false, off, empty) makes a form update private', () => {
    for (const value of ['private', 'private=', 'private=0', 'private=false', 'private=off']) {
      expect(parseFormPublish(`topic=a&${value}`, limits)[0]?.private, value).toBe(true)
    }
  })

  it('refuses reserved topics, the mercure type, and Mercure-invalid ids (400)', () => {
    expect(
      code(() => parseFormPublish('topic=%2F.well-known%2Fmercure%2Fsubscriptions%2Fx', limits)),
    ).toBe('HERALD_INVALID_TOPIC')
    expect(code(() => parseFormPublish('topic=a&type=mercure', limits))).toBe(
      'HERALD_INVALID_EVENT_TYPE',
    )
    for (const id of ['%231', 'earliest', 'a%E2%80%8Bb']) {
      expect(
        code(() => parseFormPublish(`topic=a&id=${id}`, limits)),
        id,
      ).toBe('HERALD_INVALID_EVENT_ID')
    }
    expect(code(() => parseFormPublish('topic=a%E2%80%AEb', limits))).toBe('HERALD_INVALID_TOPIC')
    expect(
      code(() => parseJsonPublish('{"topic":"/.well-known/mercure/x","data":"x"}', limits)),
    ).toBe('HERALD_INVALID_TOPIC')
  })

  it('reads Mercure forms: defaults and field errors', () => {
    expect(parseFormPublish('topic=a', limits)[0]).toMatchObject({ data: '', private: false })
    expect(code(() => parseFormPublish('data=x', limits))).toBe('HERALD_INVALID_PUBLISH')
    expect(code(() => parseFormPublish('topic=a&retry=soon', limits))).toBe('HERALD_INVALID_RETRY')
    expect(code(() => parseFormPublish('topic=a&type=x%0Ay', limits))).toBe(
      'HERALD_INVALID_EVENT_TYPE',
    )
  })

  it('refuses JSON nested deeper than MAX_JSON_DEPTH with a 400, in one pass', () => {
    const roomy = { maxPayloadBytes: 1024 * 1024, maxBatch: 3 }
    const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`
    expect(
      code(() => parseJsonPublish(`{"topic":"t","data":${deep(MAX_JSON_DEPTH - 1)}}`, roomy)),
    ).toBeUndefined()
    expect(
      code(() => parseJsonPublish(`{"topic":"t","data":${deep(MAX_JSON_DEPTH)}}`, roomy)),
    ).toBe('HERALD_INVALID_JSON')
    expect(code(() => parseJsonPublish(`{"topic":"t","data":${deep(100_000)}}`, roomy))).toBe(
      'HERALD_INVALID_JSON',
    )
    // Brackets inside strings (escaped quotes too) are text, not nesting.
    const text = JSON.stringify({ topic: 't', data: `"\\${'['.repeat(500)}` })
    expect(code(() => parseJsonPublish(text, roomy))).toBeUndefined()
    // An escaped backslash ends right before the closing quote: what follows is nesting again.
    expect(jsonDepthExceeds(`["\\\\"${'['.repeat(3)}`, 3)).toBe(true)
    expect(jsonDepthExceeds(`["\\"${'['.repeat(3)}`, 3)).toBe(false)
  })

  it('decides nesting exactly as a scan of every character does (property)', () => {
    // The reference: the scan alone, without the count of opening brackets in front of it.
    const scan = (text: string, max: number): boolean => {
      let depth = 0
      let inString = false
      for (let i = 0; i < text.length; i++) {
        const c = text[i]
        if (inString) {
          if (c === '\\') i++
          else if (c === '"') inString = false
        } else if (c === '"') inString = true
        else if (c === '[' || c === '{') {
          if (++depth > max) return true
        } else if (c === ']' || c === '}') depth--
      }
      return false
    }
    const text = fc
      .array(fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', ','), { maxLength: 40 })
      .map((chars) => chars.join(''))
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 6 }), (t, max) => {
        expect(jsonDepthExceeds(t, max)).toBe(scan(t, max))
      }),
      { numRuns: 2000 },
    )
  })

  it('caps the event type, counts type and id against the payload, reserves herald.*', () => {
    const roomy = { maxPayloadBytes: 1000, maxBatch: 3 }
    const type = 'x'.repeat(MAX_EVENT_TYPE_LENGTH)
    expect(
      code(() => parseJsonPublish(JSON.stringify({ topic: 't', data: '', type }), roomy)),
    ).toBe(undefined)
    expect(
      code(() =>
        parseJsonPublish(JSON.stringify({ topic: 't', data: '', type: `${type}x` }), roomy),
      ),
    ).toBe('HERALD_INVALID_EVENT_TYPE')
    // 800 of data + 256 of type: over the 1000-byte payload.
    expect(
      code(() =>
        parseJsonPublish(JSON.stringify({ topic: 't', data: 'd'.repeat(800), type }), roomy),
      ),
    ).toBe('HERALD_PAYLOAD_TOO_LARGE')
    expect(
      code(() =>
        parseJsonPublish(
          JSON.stringify({ topic: 't', data: 'd'.repeat(800), id: 'i'.repeat(300) }),
          roomy,
        ),
      ),
    ).toBe('HERALD_PAYLOAD_TOO_LARGE')
    for (const reserved of ['herald.reset', 'Herald.Reset', 'herald.anything']) {
      expect(
        code(() =>
          parseJsonPublish(JSON.stringify({ topic: 't', data: '', event: reserved }), roomy),
        ),
      ).toBe('HERALD_RESERVED_EVENT_TYPE')
      expect(code(() => parseFormPublish(`topic=t&type=${reserved}`, roomy))).toBe(
        'HERALD_RESERVED_EVENT_TYPE',
      )
    }
    expect(
      parseJsonPublish('{"topic":"t","data":"","event":"heraldic"}', roomy).events[0]?.type,
    ).toBe('heraldic')
  })

  it('clamps retry into RETRY_RANGE_MS', () => {
    const [min, max] = RETRY_RANGE_MS
    const retry = (value: number): number | undefined =>
      parseJsonPublish(JSON.stringify({ topic: 't', data: '', retry: value }), limits).events[0]
        ?.retry
    expect(retry(0)).toBe(min)
    expect(retry(Number.MAX_SAFE_INTEGER)).toBe(max)
    expect(retry(5000)).toBe(5000)
    expect(parseFormPublish('topic=t&retry=0', limits)[0]?.retry).toBe(min)
    expect(code(() => retry(-1))).toBe('HERALD_INVALID_RETRY')
  })

  it('refuses form bodies with bad percent escapes or escaped bytes that are not UTF-8', () => {
    const roomy = { maxPayloadBytes: 100, maxBatch: 3 }
    expect(parseFormPublish('topic=a%2Fb&data=caf%C3%A9+au+lait', roomy)[0]).toMatchObject({
      topic: 'a/b',
      data: 'café au lait',
    })
    expect(parseFormPublish('topic=t&data=caf\u00e9', limits)[0]?.data).toBe('café')
    for (const bad of ['topic=t&data=%zz', 'topic=t&data=%4', 'topic=t&data=100%', 'to%pic=t']) {
      expect(code(() => parseFormPublish(bad, limits))).toBe('HERALD_INVALID_PUBLISH')
    }
    expect(code(() => parseFormPublish('topic=t&data=%FF%FE', limits))).toBe('HERALD_INVALID_UTF8')
  })
})
