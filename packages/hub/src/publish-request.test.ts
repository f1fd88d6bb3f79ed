import { isHeraldError } from '@herald/protocol'
import { describe, expect, it } from 'vitest'
import { parseFormPublish, parseJsonPublish } from './publish-request.js'

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
      '{"topic":"t","data":{"a":[1,2]},"event":"e","id":"c1","retry":5,"private":true}',
      roomy,
    )
    expect(batch).toBe(false)
    expect(events).toEqual([
      { topic: 't', data: '{"a":[1,2]}', type: 'e', clientId: 'c1', retry: 5, private: true },
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
      'topic=a&topic=b&topic=a&data=hi&id=u1&type=t&retry=30&private=on&future=1',
      limits,
    )
    expect(events).toEqual([
      {
        topic: 'a',
        alternates: ['b'],
        data: 'hi',
        type: 't',
        clientId: 'u1',
        retry: 30,
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
})
