/**
 * Black-box hardening of `herald serve` over raw sockets: publish bodies trickled byte by
 * byte (slowloris) get 408 and lose the connection; answers given before the body arrived
 * close the connection; with --trust-proxy, limits key on the X-Forwarded-For entry the proxy
 * appended, not on one the client wrote.
 */
import { connect } from 'node:net'
import type { HubProcess } from '@herald/testkit'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let hub: HubProcess
beforeAll(async () => {
  hub = await startHubProcess({ args: ['--body-timeout', '1', '--heartbeat', '0'] })
})
afterAll(async () => {
  expect(await hub.stop()).toBe(0)
})

interface RawExchange {
  /** Everything the hub sent. */
  readonly text: Promise<string>
  /** Resolves `true` when the hub closed the connection, `false` at the deadline. */
  readonly closed: Promise<boolean>
  /** Resolves with what was received once `predicate` holds; rejects at the deadline. */
  until(predicate: (text: string) => boolean): Promise<string>
  write(data: string): void
  destroy(): void
}

/** Opens a raw connection to the hub and sends `head`. */
function raw(head: string, deadlineMs = 10_000): RawExchange {
  const { port } = new URL(hub.url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => {})
  socket.write(head)
  let received = ''
  const waiters = new Set<() => void>()
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    received += chunk
    for (const wake of waiters) wake()
  })
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), deadlineMs)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  return {
    text: closed.then(() => received),
    closed,
    until: (predicate) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out; received ${JSON.stringify(received)}`))
        }, deadlineMs)
        const check = (): void => {
          if (!predicate(received)) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(received)
        }
        waiters.add(check)
        check()
      }),
    write: (data) => {
      if (!socket.destroyed) socket.write(data)
    },
    destroy: () => socket.destroy(),
  }
}

describe('publish bodies', () => {
  it('answers 408 HERALD_REQUEST_TIMEOUT to a body trickled past --body-timeout, and closes', async () => {
    const exchange = raw(
      'POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    )
    // The slowloris client: one byte every 100 ms, for as long as the connection lasts.
    const trickle = setInterval(() => exchange.write(' '), 100)
    try {
      expect(await exchange.closed).toBe(true)
      const text = await exchange.text
      expect(text).toMatch(/^HTTP\/1\.1 408 /)
      expect(text).toContain('HERALD_REQUEST_TIMEOUT')
    } finally {
      clearInterval(trickle)
      exchange.destroy()
    }
  })

  it('closes the connection after answering before the body arrived (415 here)', async () => {
    const exchange = raw(
      'POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\nabc',
      5000,
    )
    try {
      expect(await exchange.closed).toBe(true)
      const text = await exchange.text
      expect(text).toMatch(/^HTTP\/1\.1 415 /)
      expect(text.toLowerCase()).toContain('connection: close')
    } finally {
      exchange.destroy()
    }
  })

  it('keeps the connection open after a complete request (keep-alive unaffected)', async () => {
    const body = JSON.stringify({ topic: 'keep/1', data: 'x' })
    const request = `POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
    const exchange = raw(request)
    try {
      await exchange.until((text) => text.includes('HTTP/1.1 200'))
      exchange.write(request)
      const text = await exchange.until((t) => t.split('HTTP/1.1 200').length === 3)
      expect(text.toLowerCase()).not.toContain('connection: close')
    } finally {
      exchange.destroy()
    }
  })
})

describe('--trust-proxy', () => {
  let proxied: HubProcess
  beforeAll(async () => {
    proxied = await startHubProcess({
      args: [
        '--trust-proxy',
        '--max-connections-per-ip',
        '1',
        '--publish-rate',
        '0.01',
        '--publish-burst',
        '2',
        '--heartbeat',
        '0',
      ],
    })
  })
  afterAll(async () => {
    expect(await proxied.stop()).toBe(0)
  })

  // The proxy appends the address it saw (10.0.0.9) to whatever the client sent.
  const via = (spoofed: string) => ({ 'x-forwarded-for': `${spoofed}, 10.0.0.9` })

  it('limits streams per IP by the entry the proxy appended, not one the client wrote', async () => {
    const first = await openEventStream(`${proxied.url}/events?topic=xff`, via('1.1.1.1'))
    try {
      expect(first.status).toBe(200)
      const second = await openEventStream(`${proxied.url}/events?topic=xff`, via('2.2.2.2'))
      second.close()
      expect(second.status).toBe(429)
      expect(second.text).toContain('HERALD_TOO_MANY_CONNECTIONS_PER_IP')
    } finally {
      first.close()
    }
  })

  it('rate-limits anonymous publishes by the entry the proxy appended', async () => {
    const statuses: number[] = []
    for (const spoofed of ['3.3.3.1', '3.3.3.2', '3.3.3.3']) {
      const response = await fetch(`${proxied.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...via(spoofed) },
        body: JSON.stringify({ topic: 'xff/rate', data: 'x' }),
      })
      await response.text()
      statuses.push(response.status)
    }
    expect(statuses).toEqual([200, 200, 429])
  })
})
