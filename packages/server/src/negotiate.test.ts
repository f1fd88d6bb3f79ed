import { describe, expect, it } from 'vitest'
import { acceptsEventStream, pickEncoding } from './negotiate.js'

describe('acceptsEventStream', () => {
  it.each([
    [undefined, true],
    ['', true],
    ['*/*', true],
    ['text/*', true],
    ['text/event-stream', true],
    ['TEXT/Event-Stream; charset=utf-8', true],
    ['application/json, text/event-stream;q=0.2', true],
    ['application/json', false],
    ['text/html, application/xhtml+xml', false],
    ['text/event-stream;q=0', false],
    ['text/event-stream;q=0, */*', false],
    ['text/*;q=0, */*', false],
    ['text/*;q=0, text/event-stream', true],
    ['*/*;q=0', false],
  ])('%s -> %s', (accept, expected) => {
    expect(acceptsEventStream(accept)).toBe(expected)
  })
})

describe('pickEncoding', () => {
  const offered = ['br', 'gzip'] as const
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['identity', undefined],
    ['gzip', 'gzip'],
    ['gzip, br', 'br'],
    ['br;q=0, gzip', 'gzip'],
    ['*', 'br'],
    ['*, br;q=0', 'gzip'],
    ['deflate', undefined],
  ])('%s -> %s', (header, expected) => {
    expect(pickEncoding(header, offered)).toBe(expected)
  })
})
