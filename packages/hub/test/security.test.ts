/**
 * Hardening of createHub on a real node:http server: cookie-authenticated publishes need a
 * trusted origin (CSRF), idempotent replays re-check publish grants, a malformed Host gets a
 * 400 (not a 500).
 */
import { connect } from 'node:net'
import type { HubOptions } from '@herald/hub'
import { createHub, createMemoryEventStore, mintToken } from '@herald/hub'
import { afterEach, describe, expect, it } from 'vitest'
import { listenHub } from './fixtures.js'

const SECRET = 'security-test-secret-0123456789abcdef'
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function start(options: Partial<HubOptions> = {}): Promise<string> {
  const hub = await listenHub(
    {
      store: createMemoryEventStore(),
      auth: { jwtSecret: SECRET },
      stream: { heartbeatMs: 0 },
      ...options,
    },
    cleanups,
  )
  return hub.url
}

async function formPost(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; code: string | undefined }> {
  const response = await fetch(`${url}/.well-known/mercure`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ topic: 'account/1', data: 'transfer' }).toString(),
  })
  const text = await response.text()
  const code =
    response.status === 200
      ? undefined
      : (JSON.parse(text) as { error: { code: string } }).error.code
  return { status: response.status, code }
}

describe('publishing with the token in a cookie (CSRF)', () => {
  it('refuses a cross-site or origin-less cookie publish, accepts same-origin and allowed ones', async () => {
    const url = await start({ cors: { origins: ['https://app.example.com'] } })
    const token = await mintToken({ secret: SECRET, publish: ['account/*'] })
    const cookie = `heraldAuthorization=${token}`
    // A form on another site posting with the victim's cookie.
    expect(await formPost(url, { cookie, origin: 'https://evil.example' })).toEqual({
      status: 403,
      code: 'HERALD_ORIGIN_NOT_ALLOWED',
    })
    expect(await formPost(url, { cookie, origin: 'null' })).toMatchObject({ status: 403 })
    expect(await formPost(url, { cookie })).toMatchObject({ status: 403 })
    expect(await formPost(url, { cookie, referer: 'https://evil.example/page' })).toMatchObject({
      status: 403,
    })
    // The hub's own pages, and allowed CORS origins, still publish by cookie.
    expect(await formPost(url, { cookie, origin: url })).toEqual({ status: 200, code: undefined })
    expect(await formPost(url, { cookie, referer: `${url}/app` })).toMatchObject({ status: 200 })
    expect(await formPost(url, { cookie, origin: 'https://app.example.com' })).toMatchObject({
      status: 200,
    })
    // A token in Authorization is not sent by browsers on their own: no origin needed.
    expect(
      await formPost(url, { authorization: `Bearer ${token}`, origin: 'https://evil.example' }),
    ).toMatchObject({ status: 200 })
    expect(await formPost(url, { authorization: `Bearer ${token}` })).toMatchObject({
      status: 200,
    })
  })
})

describe('Idempotency-Key replays', () => {
  it("re-checks the caller's publish grants before answering from the cache", async () => {
    const url = await start()
    const granted = await mintToken({ secret: SECRET, subject: 'u1', publish: ['orders/*'] })
    const other = await mintToken({ secret: SECRET, subject: 'u1', publish: ['other/*'] })
    const publish = (token: string) =>
      fetch(`${url}/publish`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'idempotency-key': 'key-1',
        },
        body: JSON.stringify({ topic: 'orders/1', data: 'x' }),
      })
    const first = await publish(granted)
    expect(first.status).toBe(200)
    const firstBody = await first.text()
    const refused = await publish(other)
    expect(refused.status).toBe(403)
    expect(refused.headers.get('idempotent-replayed')).toBeNull()
    expect(await refused.text()).toContain('HERALD_FORBIDDEN')
    const replayed = await publish(granted)
    expect(replayed.headers.get('idempotent-replayed')).toBe('true')
    expect(await replayed.text()).toBe(firstBody)
  })
})

/** Sends `request` on a raw socket; resolves with everything received once the hub closes. */
function rawExchange(url: string, request: string): Promise<string> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1')
  cleanups.push(async () => socket.destroy())
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    received += chunk
  })
  socket.write(request)
  return new Promise((resolve, reject) => {
    socket.once('close', () => resolve(received))
    socket.once('error', reject)
  })
}

describe('malformed requests', () => {
  it('answers 400 HERALD_INVALID_REQUEST to an invalid Host header, on every route', async () => {
    const url = await start()
    for (const path of ['/healthz', '/events?topic=a', '/publish']) {
      const method = path === '/publish' ? 'POST' : 'GET'
      const text = await rawExchange(
        url,
        `${method} ${path} HTTP/1.1\r\nHost: [zz\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      )
      expect(text).toMatch(/^HTTP\/1\.1 400 /)
      expect(text).toContain('HERALD_INVALID_REQUEST')
    }
  })
})

describe('publish body deadline (fetch handler)', () => {
  it('answers 408 HERALD_REQUEST_TIMEOUT when the body stalls past bodyTimeoutMs', async () => {
    const store = createMemoryEventStore()
    const hub = createHub({ store, bodyTimeoutMs: 50, stream: { heartbeatMs: 0 } })
    cleanups.push(async () => {
      await hub.close()
      await store.close()
    })
    let cancelled = false
    // A body that sends one byte, then nothing, ever.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{'))
      },
      cancel() {
        cancelled = true
      },
    })
    const response = await hub.fetch(
      new Request('http://hub.test/publish', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        duplex: 'half',
      } as RequestInit),
    )
    expect(response.status).toBe(408)
    expect(await response.text()).toContain('HERALD_REQUEST_TIMEOUT')
    expect(cancelled).toBe(true)
    expect(() => createHub({ store, bodyTimeoutMs: -1 })).toThrow(/bodyTimeoutMs/)
  })
})
