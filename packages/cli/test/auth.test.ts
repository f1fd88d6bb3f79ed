/**
 * Black-box: JWT auth of the real `herald serve`: HS256 secret, RS256 PEM key, ES256 JWK,
 * a JWKS URL served locally; token from header, cookie or (when enabled) query string;
 * every refusal (401: missing, expired, not yet valid, wrong audience, alg none, forged;
 * 403: topic not granted); private events; subscriptions ending at token expiry.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mintToken } from '@herald/hub'
import type { HubProcess } from '@herald/testkit'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

const SECRET = 'test-secret-for-herald-auth-0123456789'
const dir = mkdtempSync(join(tmpdir(), 'herald-auth-'))
const now = () => Math.floor(Date.now() / 1000)

async function hs256(payload: JWTPayload, secret = SECRET): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret))
}

function unsigned(payload: JWTPayload): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`
}

async function post(
  url: string,
  body: unknown,
  token?: string,
  extra: Record<string, string> = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...extra }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const response = await fetch(`${url}/publish`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  })
  const json = (await response.json()) as { id?: string; error?: { code: string; message: string } }
  return { status: response.status, json, headers: response.headers }
}

describe('HS256 secret', () => {
  let hub: HubProcess
  beforeAll(async () => {
    hub = await startHubProcess({
      args: ['--jwt-audience', 'herald-test'],
      env: { HERALD_JWT_SECRET: SECRET },
    })
  })
  afterAll(async () => {
    expect(await hub.stop()).toBe(0)
  })
  const grant = (extra: JWTPayload = {}) =>
    hs256({
      aud: 'herald-test',
      exp: now() + 600,
      herald: { publish: ['orders/*'], subscribe: ['orders/**'] },
      ...extra,
    })

  it('publishes with a valid token; answers 401 without one, with WWW-Authenticate', async () => {
    expect((await post(hub.url, { topic: 'orders/1', data: 'x' }, await grant())).status).toBe(200)
    const anonymous = await post(hub.url, { topic: 'orders/1', data: 'x' })
    expect(anonymous.status).toBe(401)
    expect(anonymous.json.error?.code).toBe('HERALD_UNAUTHORIZED')
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it('refuses expired, not-yet-valid, wrong-audience, alg none, forged and malformed tokens (401)', async () => {
    const claims = { herald: { publish: ['*'] } }
    const cases: Record<string, string> = {
      expired: await hs256({ ...claims, aud: 'herald-test', exp: now() - 60 }),
      notYetValid: await hs256({ ...claims, aud: 'herald-test', nbf: now() + 600 }),
      wrongAudience: await hs256({ ...claims, aud: 'someone-else', exp: now() + 600 }),
      noAudience: await hs256({ ...claims, exp: now() + 600 }),
      algNone: unsigned({ ...claims, aud: 'herald-test', exp: now() + 600 }),
      forged: await hs256(
        { ...claims, aud: 'herald-test', exp: now() + 600 },
        'another-secret-entirely-000000',
      ),
      malformed: 'not.a.token',
    }
    for (const [name, token] of Object.entries(cases)) {
      const answer = await post(hub.url, { topic: 'orders/1', data: 'x' }, token)
      expect(answer.status, name).toBe(401)
      expect(answer.json.error?.code, name).toBe('HERALD_UNAUTHORIZED')
      const stream = await openEventStream(`${hub.url}/events?topic=orders/1`, {
        authorization: `Bearer ${token}`,
      })
      expect(stream.status, `${name} (subscribe)`).toBe(401)
    }
  })

  it('answers 403 when a valid token does not grant the topic', async () => {
    const token = await grant()
    const publish = await post(hub.url, { topic: 'users/1', data: 'x' }, token)
    expect(publish.status).toBe(403)
    expect(publish.json.error?.code).toBe('HERALD_FORBIDDEN')
    // One forbidden event refuses the whole batch.
    const batch = await post(
      hub.url,
      [
        { topic: 'orders/2', data: 'ok' },
        { topic: 'users/1', data: 'no' },
      ],
      token,
    )
    expect(batch.status).toBe(403)
    const stream = await openEventStream(`${hub.url}/events?topic=users/1`, {
      authorization: `Bearer ${token}`,
    })
    expect(stream.status).toBe(403)
    expect(JSON.parse(stream.text).error.code).toBe('HERALD_FORBIDDEN')
    // A pattern wider than the grant is refused too.
    const wide = await openEventStream(`${hub.url}/events?topic=**`, {
      authorization: `Bearer ${token}`,
    })
    expect(wide.status).toBe(403)
  })

  it('reads the token from the heraldAuthorization cookie, and accepts the mercure claim', async () => {
    const mercure = await hs256({
      aud: 'herald-test',
      exp: now() + 600,
      mercure: { publish: ['*'], subscribe: ['*'] },
    })
    const response = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: `other=1; heraldAuthorization=${mercure}`,
        // A cookie-authenticated publish must come from the hub's own origin (CSRF).
        origin: hub.url,
      },
      body: JSON.stringify({ topic: 'anything/at/all', data: 'x' }),
    })
    expect(response.status).toBe(200)
    const form = await fetch(`${hub.url}/.well-known/mercure`, {
      method: 'POST',
      headers: { authorization: `Bearer ${mercure}` },
      body: new URLSearchParams({ topic: 'https://example.com/books/1', data: 'x' }),
    })
    expect(form.status).toBe(200)
  })

  it('ignores a query-string token unless enabled', async () => {
    const token = await grant()
    const stream = await openEventStream(`${hub.url}/events?topic=users/1&authorization=${token}`)
    // Treated as anonymous (the query is ignored): public subscription allowed.
    expect(stream.status).toBe(200)
    stream.close()
  })

  it('delivers private events only to subscribers whose claim matches', async () => {
    const publisher = await grant()
    const entitled = await openEventStream(`${hub.url}/events?topic=orders/9`, {
      authorization: `Bearer ${await grant()}`,
    })
    const anonymous = await openEventStream(`${hub.url}/events?topic=orders/9`)
    expect(anonymous.status).toBe(200)
    await post(hub.url, { topic: 'orders/9', data: 'private', private: true }, publisher)
    await post(hub.url, { topic: 'orders/9', data: 'public' }, publisher)
    expect((await entitled.count(2)).map((e) => e.data)).toEqual(['private', 'public'])
    expect((await anonymous.count(1)).map((e) => e.data)).toEqual(['public'])
    expect(anonymous.events).toHaveLength(1)
    entitled.close()
    anonymous.close()
  })

  it('ends a subscription when its token expires', async () => {
    const token = await grant({ exp: now() + 3 })
    const stream = await openEventStream(`${hub.url}/events?topic=orders/1`, {
      authorization: `Bearer ${token}`,
    })
    expect(stream.status).toBe(200)
    await stream.ended
  })
})

describe('anonymous subscribers refused, query token enabled', () => {
  it('answers 401 to anonymous subscribers and reads ?authorization=', async () => {
    const hub = await startHubProcess({
      args: ['--jwt-secret', SECRET, '--deny-anonymous', '--query-token'],
    })
    try {
      const anonymous = await openEventStream(`${hub.url}/events?topic=news`)
      expect(anonymous.status).toBe(401)
      const token = await mintToken({ secret: SECRET, subscribe: ['*'] })
      const viaQuery = await openEventStream(`${hub.url}/events?topic=news&authorization=${token}`)
      expect(viaQuery.status).toBe(200)
      viaQuery.close()
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })

  it('never writes a query token to its logs', async () => {
    const hub = await startHubProcess({
      args: ['--jwt-secret', SECRET, '--query-token', '--log-level', 'info'],
    })
    try {
      const token = await mintToken({ secret: SECRET, subscribe: ['*'] })
      // Any spelling the hub reads as the token parameter is redacted too.
      for (const name of ['authorization', '%61uthorization']) {
        const stream = await openEventStream(`${hub.url}/events?topic=news&${name}=${token}`)
        expect(stream.status).toBe(200)
        stream.close()
      }
      await vi.waitFor(() => expect(hub.stderr().split('stream opened').length).toBe(3), {
        timeout: 10_000,
      })
      const logs = hub.stderr()
      expect(logs).toContain('authorization=[redacted]')
      expect(logs).toContain('%61uthorization=[redacted]')
      expect(logs).not.toContain(token)
      expect(logs).not.toContain(token.split('.')[2] as string)
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })
})

describe('CORS preflight with anonymous subscribers refused', () => {
  it('answers the credential-less preflight before checking auth, then 401s the anonymous GET', async () => {
    const origin = 'https://app.example.com'
    const hub = await startHubProcess({
      args: ['--jwt-secret', SECRET, '--deny-anonymous', '--cors-origin', origin],
    })
    try {
      // A reconnecting browser sends Last-Event-ID (and Authorization): both need a preflight,
      // which by the Fetch standard never carries credentials.
      const preflight = await fetch(`${hub.url}/events?topic=news`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization, last-event-id',
        },
      })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin)
      const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase()
      expect(allowed).toContain('authorization')
      expect(allowed).toContain('last-event-id')
      const anonymous = await openEventStream(`${hub.url}/events?topic=news`, { origin })
      expect(anonymous.status).toBe(401)
      const token = await mintToken({ secret: SECRET, subscribe: ['*'] })
      const authorized = await openEventStream(`${hub.url}/events?topic=news`, {
        origin,
        authorization: `Bearer ${token}`,
        'last-event-id': 'earliest',
      })
      expect(authorized.status).toBe(200)
      authorized.close()
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })
})

describe('asymmetric keys', () => {
  let jwks: Server
  afterAll(async () => {
    await new Promise((resolve) => jwks?.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })

  it('verifies RS256 with a PEM public key file', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256')
    const file = join(dir, 'rs256.pem')
    writeFileSync(file, await exportSPKI(publicKey))
    const hub = await startHubProcess({ args: ['--jwt-public-key', file] })
    try {
      const sign = (alg: string, key: Parameters<SignJWT['sign']>[0]) =>
        new SignJWT({ herald: { publish: ['*'] } })
          .setProtectedHeader({ alg })
          .setExpirationTime('5m')
          .sign(key)
      expect(
        (await post(hub.url, { topic: 't', data: 'x' }, await sign('RS256', privateKey))).status,
      ).toBe(200)
      // Algorithm confusion: an HS256 token "signed" with the public key text must fail.
      const confused = await sign('HS256', new TextEncoder().encode(await exportSPKI(publicKey)))
      expect((await post(hub.url, { topic: 't', data: 'x' }, confused)).status).toBe(401)
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })

  it('verifies ES256 with a JWK given in HERALD_JWT_PUBLIC_KEY', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const hub = await startHubProcess({
      env: { HERALD_JWT_PUBLIC_KEY: JSON.stringify(await exportJWK(publicKey)) },
    })
    try {
      const token = await new SignJWT({ herald: { publish: ['t'] } })
        .setProtectedHeader({ alg: 'ES256' })
        .setExpirationTime('5m')
        .sign(privateKey)
      expect((await post(hub.url, { topic: 't', data: 'x' }, token)).status).toBe(200)
      expect((await post(hub.url, { topic: 'u', data: 'x' }, token)).status).toBe(403)
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })

  it('verifies tokens against a JWKS URL (local server), by kid', async () => {
    const good = await generateKeyPair('ES256')
    const evil = await generateKeyPair('ES256')
    const jwk = { ...(await exportJWK(good.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
    jwks = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
    const port = (jwks.address() as AddressInfo).port
    const hub = await startHubProcess({
      args: ['--jwks-url', `http://127.0.0.1:${port}/.well-known/jwks.json`],
    })
    try {
      const sign = (key: CryptoKey) =>
        new SignJWT({ herald: { publish: ['*'] } })
          .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
          .setExpirationTime('5m')
          .sign(key)
      expect(
        (await post(hub.url, { topic: 't', data: 'x' }, await sign(good.privateKey))).status,
      ).toBe(200)
      expect(
        (await post(hub.url, { topic: 't', data: 'x' }, await sign(evil.privateKey))).status,
      ).toBe(401)
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })
})
