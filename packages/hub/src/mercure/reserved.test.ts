import { describe, expect, it } from 'vitest'
import { assertNotReserved, isReservedTopic } from './reserved.js'

describe('the reserved namespace', () => {
  it('covers the hub path and below, relative or absolute, on any host', () => {
    for (const topic of [
      '/.well-known/mercure',
      '/.well-known/mercure/subscriptions/a/b',
      'https://hub.example.com/.well-known/mercure/subscriptions/x',
      'https://elsewhere.example/.well-known/mercure',
      '/.well-known/%6Dercure/subscriptions',
      '/.well-known/mercure/../mercure/x',
      '/a/%2E%2E/.well-known/mercure/x',
    ]) {
      expect(isReservedTopic(topic), topic).toBe(true)
    }
  })

  it('leaves other topics alone', () => {
    for (const topic of [
      'https://example.com/books/1',
      'orders/42',
      '/.well-known/mercurex',
      'http://[::1',
      'urn:x:y',
    ]) {
      expect(isReservedTopic(topic), topic).toBe(false)
    }
  })

  it('refuses reserved topics and the mercure type with 400', () => {
    expect(() => assertNotReserved('/.well-known/mercure/x', undefined)).toThrow(
      expect.objectContaining({ code: 'HERALD_INVALID_TOPIC', status: 400 }),
    )
    expect(() => assertNotReserved('ok', 'mercure')).toThrow(
      expect.objectContaining({ code: 'HERALD_INVALID_EVENT_TYPE', status: 400 }),
    )
    expect(() => assertNotReserved('ok', 'update')).not.toThrow()
  })
})
