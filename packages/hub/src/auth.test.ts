import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isHeraldError } from '@herald/protocol'
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  ANONYMOUS,
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
      publish: ['a/*'],
      subscribe: ['b/**'],
    })
    // Mercure claims are Mercure selectors (URI templates), kept apart from Herald patterns.
    expect(p.mercure?.publish.map((s) => s.value)).toEqual(['c'])
    expect(p.mercure?.subscribe.map((s) => s.value)).toEqual(['d'])
    expect(canPublish(p, 'a/1')).toBe(true)
    expect(canPublish(p, 'a/1/2')).toBe(false)
    expect(canPublish(p, 'c')).toBe(true)
    expect(canSubscribe(p, 'b/x/y')).toBe(true)
    expect(canSubscribe(p, 'b/*')).toBe(true)
    expect(canSubscribe(p, '**')).toBe(false)
    expect(canReceivePrivate(p, 'd')).toBe(true)
    expect(canReceivePrivate(p, 'a/1')).toBe(false)
    expect(canReceivePrivate(p, ['a/1', 'd'])).toBe(true)
  })

  it('decides publish grants per grant list and topic, the same again after its memory fills', () => {
    const principal = (publish: string[]) => ({ ...ANONYMOUS, authenticated: true, publish })
    const orders = principal(['orders/*'])
    const all = principal(['**'])
    const none = principal([])
    for (let round = 0; round < 2; round++) {
      // 300 topics: past the 256 remembered per list, so the memory is cleared in between.
      for (let i = 0; i < 300; i++) {
        expect(canPublish(orders, `orders/${i}`)).toBe(true)
        expect(canPublish(orders, `orders/${i}/x`)).toBe(false)
        expect(canPublish(all, `orders/${i}/x`)).toBe(true)
        expect(canPublish(none, `orders/${i}`)).toBe(false)
      }
    }
    // Equal lists in different principals decide alike (the memory is per list object).
    expect(canPublish(principal(['orders/*']), 'orders/1/x')).toBe(false)
    expect(canPublish(principal(['orders/**']), 'orders/1/x')).toBe(true)
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

describe('token cache', () => {
  const key = new TextEncoder().encode(SECRET)
  const T0 = Date.UTC(2030, 0, 1)
  const bearer = (token: string) => source({ authorization: `Bearer ${token}` })
  /** An HS256 token expiring at `exp` (seconds), with a distinguishing subject. */
  const token = (exp: number | undefined, sub = 'pub') => {
    const jwt = new SignJWT({ herald: { publish: ['a/*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
    if (exp !== undefined) jwt.setExpirationTime(exp)
    return jwt.sign(key)
  }

  afterEach(() => {
    vi.useRealTimers()
  })

  it('answers a repeated token from the cache until its exp, then refuses it', async () => {
    let now = T0
    const auth = createAuthenticator({ jwtSecret: SECRET }, () => now)
    const exp = T0 / 1000 + 60
    const t = await token(exp)
    const first = await auth.authenticate(bearer(t))
    expect(auth.cachedTokens).toBe(1)
    now = T0 + 59_999
    const second = await auth.authenticate(bearer(t))
    // The same verified claims object: served from the cache, not verified again.
    expect(second.publish).toBe(first.publish)
    expect(second).toMatchObject({ authenticated: true, subject: 'pub', tokenFrom: 'header' })
    // At exp the cached entry is as dead as the token: refused, and forgotten.
    now = T0 + 60_000
    expect(await reject(auth.authenticate(bearer(t)))).toBe('HERALD_UNAUTHORIZED')
    expect(auth.cachedTokens).toBe(0)
  })

  it('authenticateNow answers a cached, valid token at once, and nothing that needs verifying', async () => {
    let now = T0
    const auth = createAuthenticator({ jwtSecret: SECRET }, () => now)
    const t = await token(T0 / 1000 + 60)
    // Not verified yet: nothing to answer at once.
    expect(auth.authenticateNow?.(bearer(t))).toBeUndefined()
    const verified = await auth.authenticate(bearer(t))
    const at = auth.authenticateNow?.(bearer(t))
    expect(at).toMatchObject({ authenticated: true, subject: 'pub', tokenFrom: 'header' })
    expect(at?.publish).toBe(verified.publish)
    // The principal verified is the one cached for its place (no second copy kept).
    expect(at).toBe(verified)
    // One principal per token and place, not a copy per request; the cookie has its own.
    expect(auth.authenticateNow?.(bearer(t))).toBe(at)
    expect(await auth.authenticate(bearer(t))).toBe(at)
    expect(auth.authenticateNow?.(source({ cookie: `heraldAuthorization=${t}` }))).toMatchObject({
      tokenFrom: 'cookie',
    })
    // Expired: not answered at once, and refused when verified.
    now = T0 + 60_000
    expect(auth.authenticateNow?.(bearer(t))).toBeUndefined()
    expect(await reject(auth.authenticate(bearer(t)))).toBe('HERALD_UNAUTHORIZED')
    // No token, or auth off: the anonymous principal; a malformed header: 401, as authenticate.
    expect(auth.authenticateNow?.(source({}))).toBe(ANONYMOUS)
    expect(createAuthenticator({}).authenticateNow?.(bearer(t))).toBe(ANONYMOUS)
    expect(() => auth.authenticateNow?.(source({ authorization: 'Basic abc' }))).toThrow(
      /Bearer <token>/,
    )
    // A token that fails is never answered at once, even after the header was read.
    const other = await token(T0 / 1000 + 120, 'other')
    now = T0
    expect(auth.authenticateNow?.(bearer(other))).toBeUndefined()
    expect((await auth.authenticate(bearer(other))).subject).toBe('other')
    expect(auth.authenticateNow?.(bearer(other))?.subject).toBe('other')
    expect(auth.authenticateNow?.(bearer(t))).toBeUndefined()
  })

  it('honours the clock tolerance exactly as verification does', async () => {
    let now = T0
    const auth = createAuthenticator({ jwtSecret: SECRET, clockToleranceSeconds: 5 }, () => now)
    const t = await token(T0 / 1000 + 10)
    await auth.authenticate(bearer(t))
    now = T0 + 14_999
    expect((await auth.authenticate(bearer(t))).authenticated).toBe(true)
    now = T0 + 15_000
    expect(await reject(auth.authenticate(bearer(t)))).toBe('HERALD_UNAUTHORIZED')
    // And an uncached authenticator agrees at both instants.
    const fresh = createAuthenticator(
      { jwtSecret: SECRET, clockToleranceSeconds: 5, tokenCache: false },
      () => now,
    )
    expect(await reject(fresh.authenticate(bearer(t)))).toBe('HERALD_UNAUTHORIZED')
    now = T0 + 14_999
    expect((await fresh.authenticate(bearer(t))).authenticated).toBe(true)
  })

  it('never remembers a refused token, and can be turned off', async () => {
    const auth = createAuthenticator({ jwtSecret: SECRET }, () => T0)
    const forged = await new SignJWT({ herald: { publish: ['a/*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('another-secret-another-secret-another'))
    expect(await reject(auth.authenticate(bearer(forged)))).toBe('HERALD_UNAUTHORIZED')
    expect(await reject(auth.authenticate(bearer(forged)))).toBe('HERALD_UNAUTHORIZED')
    expect(auth.cachedTokens).toBe(0)
    const off = createAuthenticator({ jwtSecret: SECRET, tokenCache: false }, () => T0)
    const t = await token(T0 / 1000 + 60)
    const a = await off.authenticate(bearer(t))
    const b = await off.authenticate(bearer(t))
    expect(b.publish).not.toBe(a.publish)
    expect(off.cachedTokens).toBe(0)
  })

  it('stays bounded by entries and by characters, the oldest going first', async () => {
    const auth = createAuthenticator(
      { jwtSecret: SECRET, tokenCache: { maxEntries: 10 } },
      () => T0,
    )
    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, i) => token(T0 / 1000 + 60, `pub-${i}`)),
    )
    for (const t of tokens) {
      expect((await auth.authenticate(bearer(t))).authenticated).toBe(true)
      expect(auth.cachedTokens).toBeLessThanOrEqual(10)
    }
    expect(auth.cachedTokens).toBe(10)
    // The newest is still cached; the oldest was evicted (verified afresh, and cached again).
    const newest = await auth.authenticate(bearer(tokens[49] as string))
    expect((await auth.authenticate(bearer(tokens[49] as string))).publish).toBe(newest.publish)
    const oldest = await auth.authenticate(bearer(tokens[0] as string))
    expect(oldest.subject).toBe('pub-0')
    expect(auth.cachedTokens).toBe(10)

    const length = (tokens[49] as string).length
    const byChars = createAuthenticator(
      { jwtSecret: SECRET, tokenCache: { maxChars: 3 * length + 2 } },
      () => T0,
    )
    for (const t of tokens) await byChars.authenticate(bearer(t))
    expect(byChars.cachedTokens).toBe(3)
  })

  it('empties when the JWKS rotates: a token signed by a removed key is refused', async () => {
    const make = async (kid: string) => {
      const pair = await generateKeyPair('ES256')
      const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256', use: 'sig' }
      const sign = (sub: string) =>
        new SignJWT({ herald: { publish: ['a/*'] } })
          .setProtectedHeader({ alg: 'ES256', kid })
          .setSubject(sub)
          .setExpirationTime('2h')
          .sign(pair.privateKey)
      return { jwk, sign }
    }
    const a = await make('a')
    const b = await make('b')
    let served: JWK[] = [a.jwk]
    let fetches = 0
    const server = createServer((_req, res) => {
      fetches++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: served }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
      vi.useFakeTimers({ toFake: ['Date'] })
      const auth = createAuthenticator({ jwksUrl: url })
      const ta = await a.sign('signed-by-a')
      const first = await auth.authenticate(bearer(ta))
      expect((await auth.authenticate(bearer(ta))).publish).toBe(first.publish)
      expect(auth.cachedTokens).toBe(1)
      expect(fetches).toBe(1)
      // Key a is rotated out. While jose's copy of the set is fresh (10 minutes) an uncached
      // hub would still accept ta too; once it is stale, the set is fetched again, has
      // changed, and the cache goes with it.
      served = [b.jwk]
      vi.setSystemTime(Date.now() + 11 * 60_000)
      // The set is stale: the cached token is not answered at once (it goes through jose).
      expect(auth.authenticateNow?.(bearer(ta))).toBeUndefined()
      expect(await reject(auth.authenticate(bearer(ta)))).toBe('HERALD_UNAUTHORIZED')
      expect(fetches).toBe(2)
      expect(auth.cachedTokens).toBe(0)
      const tb = await b.sign('signed-by-b')
      expect((await auth.authenticate(bearer(tb))).subject).toBe('signed-by-b')
      expect(auth.cachedTokens).toBe(1)
    } finally {
      server.close()
    }
  })
})
