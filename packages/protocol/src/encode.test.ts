import { describe, expect, it } from 'vitest'
import {
  assertValidEventId,
  encodeComment,
  encodeEvent,
  encodeEventBytes,
  encodeRetry,
  toBytes,
} from './encode.js'
import { HeraldError } from './errors.js'
import { createParser } from './parse.js'

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (error) {
    return error instanceof HeraldError ? error.code : 'not a HeraldError'
  }
  return undefined
}

describe('encodeEvent', () => {
  it('writes event, id, retry and data fields and a closing blank line', () => {
    expect(encodeEvent({ data: 'hi', event: 'greet', id: '1', retry: 500 })).toBe(
      'event: greet\nid: 1\nretry: 500\ndata: hi\n\n',
    )
    expect(encodeEvent({ data: '' })).toBe('data: \n\n')
  })

  it('splits data on CR, LF and CRLF into data lines', () => {
    expect(encodeEvent({ data: 'a\nb\r\nc\rd\n' })).toBe(
      'data: a\ndata: b\ndata: c\ndata: d\ndata: \n\n',
    )
  })

  it('refuses field injection through event and id with typed errors', () => {
    expect(codeOf(() => encodeEvent({ data: 'x', event: 'a\nid: 666' }))).toBe(
      'HERALD_INVALID_EVENT_TYPE',
    )
    expect(codeOf(() => encodeEvent({ data: 'x', event: 'a\rb' }))).toBe(
      'HERALD_INVALID_EVENT_TYPE',
    )
    expect(codeOf(() => encodeEvent({ data: 'x', id: '1\n\ndata: forged' }))).toBe(
      'HERALD_INVALID_EVENT_ID',
    )
    expect(codeOf(() => encodeEvent({ data: 'x', id: 'a\0' }))).toBe('HERALD_INVALID_EVENT_ID')
    expect(codeOf(() => encodeEvent({ data: 'x', retry: -1 }))).toBe('HERALD_INVALID_RETRY')
    expect(codeOf(() => encodeEvent({ data: 'x', retry: 1.5 }))).toBe('HERALD_INVALID_RETRY')
    expect(codeOf(() => encodeEvent({ data: 42 as unknown as string }))).toBe('HERALD_INVALID_DATA')
    expect(codeOf(() => assertValidEventId(7))).toBe('HERALD_INVALID_EVENT_ID')
  })

  it('carries a 400 status on validation errors', () => {
    try {
      encodeEvent({ data: 'x', id: '\n' })
      expect.unreachable()
    } catch (error) {
      expect((error as HeraldError).status).toBe(400)
    }
  })

  it('encodes to UTF-8 bytes once', () => {
    const bytes = encodeEventBytes({ data: 'é🎉' })
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(new TextDecoder().decode(bytes)).toBe('data: é🎉\n\n')
    expect(toBytes(': x\n')).toEqual(new TextEncoder().encode(': x\n'))
  })
})

describe('encodeComment and encodeRetry', () => {
  it('writes comments that cannot inject fields', () => {
    expect(encodeComment()).toBe(':\n')
    expect(encodeComment('ping')).toBe(': ping\n')
    expect(encodeComment('a\ndata: forged\r\n')).toBe(': a\n: data: forged\n:\n')
    const events: string[] = []
    const comments: string[] = []
    const parser = createParser({
      onEvent: (e) => events.push(e.data),
      onComment: (c) => comments.push(c),
    })
    parser.feed(`${encodeComment('a\ndata: forged')}\n`)
    expect(events).toEqual([])
    expect(comments).toEqual(['a', 'data: forged'])
  })

  it('writes a retry hint that dispatches nothing (no blank line: parsers apply it per line)', () => {
    expect(encodeRetry(3000)).toBe('retry: 3000\n')
    const seen: { retry: number[]; events: number } = { retry: [], events: 0 }
    const parser = createParser({
      onEvent: () => seen.events++,
      onRetry: (ms) => seen.retry.push(ms),
    })
    parser.feed(`${encodeRetry(3000)}: heartbeat\n${encodeRetry(10)}`)
    parser.end()
    expect(seen).toEqual({ retry: [3000, 10], events: 0 })
    expect(codeOf(() => encodeRetry(Number.NaN))).toBe('HERALD_INVALID_RETRY')
  })
})
