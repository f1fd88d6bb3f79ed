import { describe, expect, it } from 'vitest'
import { createCorsPolicy } from './cors.js'

describe('createCorsPolicy', () => {
  const policy = createCorsPolicy({
    origins: ['https://app.example.com', 'https://*.example.org', 'http://localhost:3000/'],
  })

  it.each([
    ['https://app.example.com', true],
    ['https://APP.example.com', true],
    ['https://a.example.org', true],
    ['https://deep.a.example.org', true],
    ['http://localhost:3000', true],
    ['https://example.org', false],
    ['https://badexample.org', false],
    ['https://a.example.org.evil.test', false],
    ['https://a.example.org:444', false],
    ['https://user@a.example.org', false],
    ['http://a.example.org', false],
    ['https://app.example.com.evil.test', false],
    ['http://localhost:3001', false],
    ['null', false],
  ])('%s allowed: %s', (origin, allowed) => {
    expect(policy.allowOrigin(origin) !== undefined).toBe(allowed)
  })

  it('rejects malformed patterns and * with credentials', () => {
    expect(() => createCorsPolicy({ origins: ['*'], credentials: true })).toThrow(TypeError)
    expect(() => createCorsPolicy({ origins: ['https://a*.example.com'] })).toThrow(TypeError)
    expect(() => createCorsPolicy({ origins: ['example.com'] })).toThrow(TypeError)
    expect(() => createCorsPolicy({ origins: ['https://x.test/path'] })).toThrow(TypeError)
    expect(() => createCorsPolicy({ origins: ['https://x.test'], maxAgeSeconds: -1 })).toThrow(
      TypeError,
    )
    expect(() => createCorsPolicy({ origins: ['https://x.test'], allowHeaders: ['a b'] })).toThrow(
      TypeError,
    )
  })

  it('adds extra allowed headers to preflights', () => {
    const p = createCorsPolicy({ origins: ['https://x.test'], allowHeaders: ['X-Tenant'] })
    expect(p.preflightHeaders('https://x.test')['access-control-allow-headers']).toBe(
      'last-event-id, authorization, accept, cache-control, x-tenant',
    )
  })
})
