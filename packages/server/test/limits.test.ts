import { afterEach, describe, expect, it } from 'vitest'
import { createStreamServer, type StreamServer, type StreamServerOptions } from '../src/index.js'
import {
  type ClientStream,
  eventually,
  fetchText,
  listen,
  openStream,
  type TestServer,
} from './helpers.js'

let server: TestServer | undefined
let streams: StreamServer | undefined
const clients: ClientStream[] = []

afterEach(async () => {
  for (const client of clients.splice(0)) client.close()
  await streams?.close()
  await server?.close()
})

async function start(options: StreamServerOptions) {
  streams = createStreamServer(options)
  const s = streams
  server = await listen((req, res) => {
    s.handleNode(req, res)
  })
  return { port: server.port, streams: s }
}

describe('connection limits', () => {
  it('caps connections per IP with 429 and Retry-After, per source address', async () => {
    const { port, streams } = await start({ maxConnectionsPerIp: 2, retryAfterSeconds: 7 })
    clients.push(await openStream(port), await openStream(port))
    const third = await fetchText(port, { headers: { accept: 'text/event-stream' } })
    expect(third.status).toBe(429)
    expect(third.headers['retry-after']).toBe('7')
    expect(JSON.parse(third.body).error.code).toBe('HERALD_TOO_MANY_CONNECTIONS_PER_IP')
    // Another source address has its own budget.
    const other = await openStream(port, { localAddress: '127.0.0.2' })
    clients.push(other)
    expect(other.response.statusCode).toBe(200)
    expect([...streams.sessions].map((s) => s.info.ip).sort()).toEqual([
      '127.0.0.1',
      '127.0.0.1',
      '127.0.0.2',
    ])
    // Closing one frees its slot.
    clients.shift()?.close()
    await eventually(() => streams.size === 2, 'slot released')
    const again = await openStream(port)
    clients.push(again)
    expect(again.response.statusCode).toBe(200)
  })

  it('caps connections globally with 503 and Retry-After', async () => {
    const { port, streams } = await start({ maxConnections: 3 })
    for (const address of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) {
      clients.push(await openStream(port, { localAddress: address }))
    }
    const fourth = await fetchText(port, {
      headers: { accept: 'text/event-stream' },
      localAddress: '127.0.0.4',
    })
    expect(fourth.status).toBe(503)
    expect(fourth.headers['retry-after']).toBe('5')
    expect(JSON.parse(fourth.body).error.code).toBe('HERALD_TOO_MANY_CONNECTIONS')
    expect(streams.size).toBe(3)
  })

  it('counts refusals and sessions in metrics', async () => {
    const counters = new Map<string, number>()
    const metrics = {
      increment(name: string, value: number, labels?: Readonly<Record<string, string>>) {
        const key = labels === undefined ? name : `${name}${JSON.stringify(labels)}`
        counters.set(key, (counters.get(key) ?? 0) + value)
      },
      observe() {},
    }
    const { port } = await start({ maxConnections: 1, metrics })
    const client = await openStream(port)
    clients.push(client)
    await fetchText(port, { headers: { accept: 'text/event-stream' } })
    await fetchText(port, { headers: { accept: 'application/json' } })
    expect(counters.get('sessions_opened_total')).toBe(1)
    expect(counters.get('requests_rejected_total{"code":"HERALD_TOO_MANY_CONNECTIONS"}')).toBe(1)
    expect(counters.get('requests_rejected_total{"code":"HERALD_NOT_ACCEPTABLE"}')).toBe(1)
  })

  it('reports writes, frames, bytes and closes once per turn, with totals', async () => {
    const counters = new Map<string, number>()
    const observed = new Map<string, number[]>()
    const key = (name: string, labels?: Readonly<Record<string, string>>) =>
      labels === undefined ? name : `${name}${JSON.stringify(labels)}`
    const metrics = {
      increment(name: string, value: number, labels?: Readonly<Record<string, string>>) {
        counters.set(key(name, labels), (counters.get(key(name, labels)) ?? 0) + value)
      },
      observe(name: string, value: number, labels?: Readonly<Record<string, string>>) {
        observed.set(key(name, labels), [...(observed.get(key(name, labels)) ?? []), value])
      },
    }
    const { port, streams } = await start({ metrics, heartbeatMs: 0 })
    const a = await openStream(port)
    const b = await openStream(port)
    clients.push(a, b)
    for (const session of streams.sessions) {
      session.send({ data: 'one' })
      session.send({ data: 'two' })
    }
    await a.until(() => a.events.length === 2)
    await b.until(() => b.events.length === 2)
    // One turn: two sessions written once each, two frames each.
    expect(counters.get('writes_total')).toBe(2)
    expect(counters.get('frames_total')).toBe(4)
    expect(counters.get('bytes_total')).toBe(4 * 'data: one\n\n'.length)
    expect(observed.get('flush_sessions')).toEqual([2])
    expect(observed.get('flush_duration_seconds')).toHaveLength(1)
    for (const session of [...streams.sessions]) session.close()
    expect(counters.get('sessions_closed_total{"reason":"server"}')).toBe(2)
    expect(observed.get('session_duration_seconds{"reason":"server"}')).toHaveLength(2)
  })
})
