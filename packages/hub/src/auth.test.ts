import { isHeraldError } from '@herald/protocol'
import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  canPublish,
  canReceivePrivate,
  canSubscribe,
  createAuthenticator,
  mintToken,
} from './auth.js'

const SECRET = 'unit-secret-0123456789abcdef0123456789'
const source = (headers: Record<string, string>, url = 'http://hub/events') => ({
  header: (name: string) => headers[name],
  url: new URL(url),
})

async function reject(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (isHeraldError(error) ? error.code : String(error)),
  )
}

describe('authenticator', () => {
  it('is off without a key: everyone is anonymous', async () => {
    const auth = createAuthenticator()
    expect(auth.enabled).toBe(false)
    const principal = await auth.authenticate(source({ authorization: 'Bearer whatever' }))
    expect(principal.authenticated).toBe(false)
  })

  it('merges herald, flat herald.* and mercure claims', async () => {
    const auth = createAuthenticator({ jwtSecret: SECRET })
    const token = await new SignJWT({
      herald: { publish: ['a/*'] },
      'herald.subscribe': ['b/**'],
      mercure: { publish: ['c'], subscribe: ['d'] },
      sub: 'user-1',
    })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET))
    const p = await auth.authenticate(source({ authorization: `Bearer ${token}` }))
    expect(p).toMatchObject({
      authenticated: true,
      subject: 'user-1',
      publish: ['a/*', 'c'],
      subscribe: ['d', 'b/**'],
    })
    expect(canPublish(p, 'a/1')).toBe(true)
    expect(canPublish(p, 'a/1/2')).toBe(false)
    expect(canPublish(p, 'c')).toBe(true)
    expect(canSubscribe(p, 'b/x/y')).toBe(true)
    expect(canSubscribe(p, 'b/*')).toBe(true)
    expect(canSubscribe(p, '**')).toBe(false)
    expect(canReceivePrivate(p, 'd')).toBe(true)
    expect(canReceivePrivate(p, 'a/1')).toBe(false)
  })

  it('treats a lone * in a claim as every topic (Mercure)', async () => {
    const auth = createAuthenticator({ jwtSecret: SECRET })
    const token = await mintToken({ secret: SECRET, publish: ['*'], subscribe: ['*'] })
    const p = await auth.authenticate(source({ cookie: `heraldAuthorization=${token}` }))
    expect(canPublish(p, 'deep/topic/here')).toBe(true)
    expect(canSubscribe(p, '**')).toBe(true)
    expect(canReceivePrivate(p, 'x/y')).toBe(true)
    expect(p.expiresAt).toBeGreaterThan(Date.now())
  })

  it('refuses malformed claims and a non-Bearer Authorization header', async () => {
    const auth = createAuthenticator({ jwtSecret: SECRET })
    const bad = await new SignJWT({ herald: { publish: 'a' } })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET))
    expect(await reject(auth.authenticate(source({ authorization: `Bearer ${bad}` })))).toBe(
      'HERALD_UNAUTHORIZED',
    )
    expect(await reject(auth.authenticate(source({ authorization: 'Basic dTpw' })))).toBe(
      'HERALD_UNAUTHORIZED',
    )
  })

  it('reads the query token only when enabled', async () => {
    const token = await mintToken({ secret: SECRET, subscribe: ['*'] })
    const url = `http://hub/events?topic=a&authorization=${token}`
    const off = await createAuthenticator({ jwtSecret: SECRET }).authenticate(source({}, url))
    expect(off.authenticated).toBe(false)
    const on = await createAuthenticator({ jwtSecret: SECRET, queryToken: true }).authenticate(
      source({}, url),
    )
    expect(on.authenticated).toBe(true)
  })

  it('refuses unusable key configuration with HERALD_INVALID_CONFIG', () => {
    for (const options of [{ jwtPublicKey: 'not a key' }, { jwksUrl: 'not a url' }]) {
      let code: string | undefined
      try {
        createAuthenticator(options)
      } catch (error) {
        code = isHeraldError(error) ? error.code : 'other'
      }
      expect(code).toBe('HERALD_INVALID_CONFIG')
    }
  })
})
