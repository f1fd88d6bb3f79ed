/**
 * The hub's lean streams keep no credentials for their whole life: once a stream is
 * authorized, its session info has no Authorization or Cookie field and the query's token is
 * redacted (less memory per stream, and no bearer token left in memory after it was checked).
 */
import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, connect, createServer, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth.js'
import { createHub, type Hub } from '../src/hub.js'
import { createMemoryEventStore } from '../src/memory-store.js'

const SECRET = 'lean-credentials-secret-0123456789abcdef'
let hub: Hub | undefined
let front: Server | undefined

afterEach(async () => {
  await hub?.close()
  front?.close()
})

describe('lean streams of the hub', () => {
  it('drop the token and cookies from the session info once authorized', async () => {
    hub = createHub({
      store: createMemoryEventStore(),
      auth: { jwtSecret: SECRET, queryToken: true },
      stream: { heartbeatMs: 0 },
    })
    const h = hub
    front = createServer(h.createConnectionHandler(createHttpServer(h.handleNode)))
    await new Promise<void>((resolve) => front?.listen(0, '127.0.0.1', resolve))
    const port = (front.address() as AddressInfo).port
    const token = await mintToken({ secret: SECRET, subscribe: ['t'] })
    const heads = [
      `GET /events?topic=t HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\nCookie: sid=1\r\nUser-Agent: test\r\n\r\n`,
      `GET /events?topic=t&authorization=${token} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`,
    ]
    const sockets = heads.map((head) => {
      const socket = connect(port, '127.0.0.1')
      socket.on('error', () => {})
      socket.write(head)
      return socket
    })
    while (h.streams.size < 2) await new Promise((resolve) => setImmediate(resolve))
    for (const session of h.streams.sessions) {
      const { info } = session
      expect(info.headers.authorization).toBeUndefined()
      expect(info.headers.cookie).toBeUndefined()
      expect(info.headers.accept).toBe('text/event-stream')
      expect(info.url.searchParams.get('topic')).toBe('t')
      expect(info.url.search).not.toContain(token)
    }
    for (const socket of sockets) socket.destroy()
  })
})
