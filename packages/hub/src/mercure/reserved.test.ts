import fc from 'fast-check'
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

  it('decides like the full URL resolution for any topic (the fast path changes nothing)', () => {
    // The reference: resolution without the shortcut for topics that cannot be reserved.
    const base = 'http://hub.invalid/.well-known/mercure'
    const reference = (topic: string): boolean => {
      let path: string
      try {
        path = new URL(topic, base).pathname
      } catch {
        return false
      }
      path = path.replace(/%([0-9A-Fa-f]{2})/g, (encoded, hex: string) => {
        const char = String.fromCharCode(Number.parseInt(hex, 16))
        return /[A-Za-z0-9\-._~]/.test(char) ? char : encoded
      })
      try {
        path = new URL(path, base).pathname
      } catch {
        return false
      }
      return path === '/.well-known/mercure' || path.startsWith('/.well-known/mercure/')
    }
    const pieces = [
      '/',
      '.',
      '..',
      '\\',
      '%2E',
      '%2e',
      '%77',
      '%6D',
      'well',
      '-known',
      'well-known',
      'mercure',
      'x',
      '\t',
      '\n',
      '\r',
      ' ',
      '?',
      '#',
      '//h',
      'http:',
      'https://a',
    ]
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 12 }), (parts) => {
        const topic = parts.join('')
        expect(isReservedTopic(topic), JSON.stringify(topic)).toBe(reference(topic))
      }),
      { numRuns: 5000 },
    )
    for (const topic of ['a/../mercure', 'x/./../mercure/y', './mercure', 'mercure']) {
      expect(isReservedTopic(topic), topic).toBe(true)
      expect(reference(topic), topic).toBe(true)
    }
    expect(isReservedTopic('/.well-\tknown/mercure')).toBe(true)
    // A path that stops parsing once decoded is not reserved (it used to throw a TypeError).
    expect(isReservedTopic('/.//')).toBe(false)
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
