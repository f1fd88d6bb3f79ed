/**
 * Black-box: `herald serve` serves plain HTTP/1.1 event streams on the lean path by default
 * (close-delimited responses written straight to the socket, no `Transfer-Encoding`) with the
 * same replay, resets, auth errors and CORS as the `node:http` path, while publish, health
 * checks and preflights on the same port go to the HTTP server behind it; behind
 * `--trust-proxy` the per-IP limit counts the forwarded client; `--no-lean-streams` turns the
 * path off; SIGTERM drains.
 */
import { connect } from 'node:net'
import { mintToken } from '@herald/hub'
import type { HubProcess } from '@herald/testkit'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const SECRET = 'test-secret-for-herald-lean-0123456789'
const ORIGIN = 'https://app.example.com'
let counter = 0
const fresh = (name: string): string => `lean/${name}/${++counter}`

async function publish(
  url: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; id: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const response = await fetch(`${url}/publish`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  })
  const json = (await response.json()) as { id?: string }
  return { status: response.status, id: json.id ?? '' }
}

/**
 * The response head of a stream request, read from a raw socket. Which path answered shows
 * in it: node:http writes `Date:`, the lean path writes its own head with `date:`.
 */
function streamHead(url: string, target: string, headers: Record<string, string> = {}) {
  const { hostname, port } = new URL(url)
  return new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let text = ''
    socket.setEncoding('latin1')
    socket.on('error', reject)
    socket.on('data', (chunk: string) => {
      text += chunk
      const end = text.indexOf('\r\n\r\n')
      if (end === -1) return
      socket.destroy()
      resolve(text.slice(0, end))
    })
    socket.on('close', () => reject(new Error(`closed before a full head: ${text}`)))
    const lines = Object.entries({
      host: `${hostname}:${port}`,
      accept: 'text/event-stream',
      ...headers,
    })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')
    socket.write(`GET ${target} HTTP/1.1\r\n${lines}\r\n`)
  })
}

describe('herald serve: lean streams by default', () => {
  let hub: HubProcess
  beforeAll(async () => {
    hub = await startHubProcess()
  })
  afterAll(async () => {
    expect(await hub.stop()).toBe(0)
  })

  it('subscribes on the lean path, receives live events and replays from Last-Event-ID', async () => {
    const topic = fresh('replay')
    const stream = await openEventStream(`${hub.url}/events?topic=${topic}`)
    expect(stream.status).toBe(200)
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const ids: string[] = []
    for (const data of ['one', 'two', 'three']) {
      const answer = await publish(hub.url, { topic, data })
      expect(answer.status).toBe(200)
      ids.push(answer.id)
    }
    const live = await stream.count(3)
    expect(live.map((e) => [e.lastEventId, e.data])).toEqual([
      [ids[0], 'one'],
      [ids[1], 'two'],
      [ids[2], 'three'],
    ])
    stream.close()

    const resumed = await openEventStream(`${hub.url}/events?topic=${topic}`, {
      'last-event-id': ids[0] as string,
    })
    expect((await resumed.count(2)).map((e) => e.data)).toEqual(['two', 'three'])
    resumed.close()

    const byQuery = await openEventStream(`${hub.url}/events?topic=${topic}&lastEventId=${ids[1]}`)
    expect((await byQuery.count(1)).map((e) => e.data)).toEqual(['three'])
    byQuery.close()
  })

  it('resumes Mercure subscriptions from the lastEventID query parameter', async () => {
    const topic = fresh('mercure')
    const first = await publish(hub.url, { topic, data: 'a' })
    await publish(hub.url, { topic, data: 'b' })
    const stream = await openEventStream(
      `${hub.url}/.well-known/mercure?topic=${topic}&lastEventID=${first.id}`,
    )
    expect(stream.status).toBe(200)
    expect((await stream.count(1)).map((e) => e.data)).toEqual(['b'])
    stream.close()
    const plain = await openEventStream(`${hub.url}/.well-known/mercure?topic=${topic}`, {
      'last-event-id': 'earliest',
    })
    expect((await plain.count(2)).map((e) => e.data)).toEqual(['a', 'b'])
    plain.close()
  })

  it('answers stream requests on the lean path and everything else through node:http', async () => {
    const topic = fresh('paths')
    expect(await streamHead(hub.url, `/events?topic=${topic}`)).toMatch(/\r\ndate: /)
    expect(await streamHead(hub.url, `/.well-known/mercure?topic=${topic}`)).toMatch(/\r\ndate: /)
    // Mercure resumes (lastEventID, last_event_id) stay on the lean path, with their
    // per-request Last-Event-ID answer header.
    const alias = await streamHead(
      hub.url,
      `/.well-known/mercure?topic=${topic}&lastEventID=earliest`,
    )
    expect(alias).toMatch(/^HTTP\/1\.1 200/)
    expect(alias).toMatch(/\r\ndate: /)
    expect(alias).toMatch(/\r\nlast-event-id: earliest\r\n/)
    expect(await streamHead(hub.url, '/healthz')).toMatch(/\r\nDate: /)
  })

  it('serves a stream on a keep-alive connection that began with another request (node:http, same features)', async () => {
    const topic = fresh('keepalive')
    const { hostname, port } = new URL(hub.url)
    const socket = connect(Number(port), hostname)
    socket.setEncoding('latin1')
    let text = ''
    const until = (check: (received: string) => boolean) =>
      new Promise<void>((resolve, reject) => {
        const look = (): void => {
          if (!check(text)) return
          socket.off('data', look)
          resolve()
        }
        socket.on('data', look)
        socket.once('close', () => reject(new Error(`closed; received: ${text}`)))
        look()
      })
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    try {
      socket.write(`GET /healthz HTTP/1.1\r\nhost: ${hostname}:${port}\r\n\r\n`)
      await until((received) => received.includes('{"status":"ok"}'))
      text = ''
      // The same connection, now a stream request: node:http has it (the lean path decides
      // per connection), and serves it with everything a lean stream has.
      socket.write(
        `GET /events?topic=${topic} HTTP/1.1\r\nhost: ${hostname}:${port}\r\naccept: text/event-stream\r\n\r\n`,
      )
      await until((received) => received.includes('\r\n\r\n'))
      expect(text).toMatch(/^HTTP\/1\.1 200 /)
      expect(text).toMatch(/\r\ncontent-type: text\/event-stream/i)
      expect(text).toMatch(/\r\nDate: /)
      const sent = await publish(hub.url, { topic, data: 'after-keepalive' })
      await until((received) => received.includes('after-keepalive'))
      expect(text).toContain(`id: ${sent.id}`)
      // A fresh connection is lean.
      expect(await streamHead(hub.url, `/events?topic=${topic}`)).toMatch(/\r\ndate: /)
    } finally {
      socket.destroy()
    }
  })

  it('sends herald.reset for an unknown cursor, then live events', async () => {
    const topic = fresh('reset')
    await publish(hub.url, { topic, data: 'before' })
    const stream = await openEventStream(`${hub.url}/events?topic=${topic}`, {
      'last-event-id': 'not-a-cursor',
    })
    const [reset] = await stream.count(1)
    expect(reset?.type).toBe('herald.reset')
    const info = JSON.parse(reset?.data ?? '') as Record<string, unknown>
    expect(info).toMatchObject({ reason: 'unknown', lastEventId: 'not-a-cursor' })
    await publish(hub.url, { topic, data: 'after' })
    expect((await stream.count(2))[1]?.data).toBe('after')
    stream.close()
  })

  it('answers invalid subscriptions with the JSON error of the node path', async () => {
    const none = await openEventStream(`${hub.url}/events`)
    expect(none.status).toBe(400)
    expect(JSON.parse(none.text)).toMatchObject({ error: { code: 'HERALD_INVALID_TOPIC' } })
    const notAcceptable = await fetch(`${hub.url}/events?topic=x`, {
      headers: { accept: 'application/json' },
    })
    expect(notAcceptable.status).toBe(406)
    await notAcceptable.body?.cancel()
  })

  it('serves health checks, metrics and publish on the same port', async () => {
    const health = await fetch(`${hub.url}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: 'ok' })
    const metrics = await fetch(`${hub.url}/metrics`)
    expect(metrics.status).toBe(200)
    expect(await metrics.text()).toContain('herald_')
    const missing = await fetch(`${hub.url}/nope`)
    expect(missing.status).toBe(404)
    await missing.body?.cancel()
  })
})

describe('herald serve: lean streams with auth and CORS', () => {
  let hub: HubProcess
  beforeAll(async () => {
    hub = await startHubProcess({
      args: ['--jwt-secret', SECRET, '--deny-anonymous', '--cors-origin', ORIGIN],
    })
  })
  afterAll(async () => {
    expect(await hub.stop()).toBe(0)
  })

  it('answers 401 and 403 with JSON errors and CORS headers', async () => {
    const anonymous = await openEventStream(`${hub.url}/events?topic=news`, { origin: ORIGIN })
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('content-type')).toMatch(/^application\/json/)
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="herald"')
    expect(anonymous.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: 'HERALD_UNAUTHORIZED' } })

    const narrow = await mintToken({ secret: SECRET, subscribe: ['other/*'] })
    const forbidden = await openEventStream(`${hub.url}/events?topic=news`, {
      authorization: `Bearer ${narrow}`,
    })
    expect(forbidden.status).toBe(403)
    expect(JSON.parse(forbidden.text)).toMatchObject({ error: { code: 'HERALD_FORBIDDEN' } })

    const forged = await openEventStream(`${hub.url}/events?topic=news`, {
      authorization: 'Bearer not.a.token',
    })
    expect(forged.status).toBe(401)
    expect(JSON.parse(forged.text)).toMatchObject({ error: { code: 'HERALD_UNAUTHORIZED' } })
  })

  it('answers the CORS preflight with 204 before auth, then streams to a token holder', async () => {
    const preflight = await fetch(`${hub.url}/events?topic=news`, {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization, last-event-id',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    expect((preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toContain(
      'last-event-id',
    )

    const token = await mintToken({ secret: SECRET, subscribe: ['news'], publish: ['news'] })
    const stream = await openEventStream(`${hub.url}/events?topic=news`, {
      origin: ORIGIN,
      authorization: `Bearer ${token}`,
    })
    expect(stream.status).toBe(200)
    expect(stream.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    const sent = await publish(hub.url, { topic: 'news', data: 'hello' }, token)
    expect(sent.status).toBe(200)
    expect((await stream.count(1))[0]).toMatchObject({ data: 'hello', lastEventId: sent.id })
    stream.close()
  })
})

describe('herald serve: lean streams behind a trusted proxy', () => {
  it('counts --max-connections-per-ip per forwarded client, not per proxy', async () => {
    const hub = await startHubProcess({
      args: ['--trust-proxy', '--max-connections-per-ip', '1'],
    })
    try {
      const topic = fresh('proxy')
      const first = await openEventStream(`${hub.url}/events?topic=${topic}`, {
        'x-forwarded-for': '203.0.113.1',
      })
      expect(first.status).toBe(200)
      // Another client through the same proxy (same socket peer): its own limit.
      const second = await openEventStream(`${hub.url}/events?topic=${topic}`, {
        'x-forwarded-for': '198.51.100.7, 203.0.113.2',
      })
      expect(second.status).toBe(200)
      // The first client again: over its limit of one.
      const again = await openEventStream(`${hub.url}/events?topic=${topic}`, {
        'x-forwarded-for': '203.0.113.1',
      })
      expect(again.status).toBe(429)
      expect(JSON.parse(again.text)).toMatchObject({
        error: { code: 'HERALD_TOO_MANY_CONNECTIONS_PER_IP' },
      })
      // On the lean path (its own head, lower-case names).
      expect(
        await streamHead(hub.url, `/events?topic=${topic}`, { 'x-forwarded-for': '203.0.113.3' }),
      ).toMatch(/^HTTP\/1\.1 200[\s\S]*\r\ndate: /)
      first.close()
      second.close()
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })
})

describe('herald serve: choosing the stream path', () => {
  it('takes --lean-streams (the default) and --no-lean-streams (node:http)', async () => {
    const lean = await startHubProcess({ args: ['--lean-streams'] })
    const off = await startHubProcess({ args: ['--no-lean-streams'] })
    const env = await startHubProcess({ env: { HERALD_LEAN_STREAMS: 'false' } })
    try {
      expect(await streamHead(lean.url, '/events?topic=flag')).toMatch(/\r\ndate: /)
      for (const hub of [off, env]) {
        const head = await streamHead(hub.url, '/events?topic=flag')
        expect(head).toMatch(/^HTTP\/1\.1 200/)
        expect(head).toMatch(/\r\nDate: /)
        expect(head).not.toMatch(/\r\ndate: /)
      }
    } finally {
      await Promise.all([lean.stop(), off.stop(), env.stop()])
    }
  })
})

describe('herald serve: lean streams shutdown', () => {
  it('drains open lean streams on SIGTERM and exits 0', async () => {
    const hub = await startHubProcess({ args: ['--drain-timeout', '2'] })
    const stream = await openEventStream(`${hub.url}/events?topic=drain`)
    expect(stream.status).toBe(200)
    const sent = await publish(hub.url, { topic: 'drain', data: 'x' })
    await stream.count(1)
    expect(sent.status).toBe(200)
    expect(await hub.stop('SIGTERM')).toBe(0)
    await stream.ended
  })
})
