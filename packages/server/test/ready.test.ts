import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createStreamServer, type Session, type StreamServer } from '../src/index.js'
import { listen, openStream, type TestServer } from './helpers.js'

let server: TestServer | undefined
let streams: StreamServer | undefined

afterEach(async () => {
  await streams?.close()
  await server?.close()
})

describe('session.ready()', () => {
  it('lets a producer outpace a slow reader without being cut off', async () => {
    const maxQueueBytes = 64 * 1024
    streams = createStreamServer({ maxQueueBytes, heartbeatMs: 0 })
    const s = streams
    let session: Session | undefined
    server = await listen((req, res) => {
      session = s.handleNode(req, res)
    })
    // A raw reader that takes its time: paused, resumed a little at a time.
    const client = net.connect(server.port, '127.0.0.1')
    client.write('GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
    let received = 0
    client.on('data', (chunk: Buffer) => {
      received += chunk.length
      client.pause()
      setTimeout(() => client.resume(), 1)
    })
    await new Promise<void>((resolve) => {
      const poll = () => (session === undefined ? setImmediate(poll) : resolve())
      poll()
    })
    const open = session as Session
    const chunk = { data: 'p'.repeat(8 * 1024) }
    const total = 8 * 1024 * 1024 // far more than the kernel and the queue together hold
    let sent = 0
    let maxBuffered = 0
    while (sent < total) {
      expect(await open.ready()).toBe(true)
      open.send(chunk)
      sent += chunk.data.length
      maxBuffered = Math.max(maxBuffered, open.bufferedBytes)
    }
    // Never cut off, never past the bound.
    expect(open.closeReason).toBeUndefined()
    expect(maxBuffered).toBeLessThanOrEqual(maxQueueBytes)
    await new Promise<void>((resolve) => {
      const poll = () => (received >= total ? resolve() : setTimeout(poll, 5))
      poll()
    })
    client.destroy()
    expect(await open.closed).toBe('client')
  })

  it('resolves true at once with room, and false when the session closes while waiting', async () => {
    streams = createStreamServer({ maxQueueBytes: 1000, heartbeatMs: 0 })
    const s = streams
    let session: Session | undefined
    server = await listen((req, res) => {
      session = s.handleNode(req, res)
    })
    const client = await openStream(server.port)
    const open = session as Session
    expect(await open.ready()).toBe(true)
    open.send({ data: 'x'.repeat(600) })
    // 600+ bytes queued, limit 100: waits; the close answers false.
    const waiting = open.ready(100)
    open.close()
    expect(await waiting).toBe(false)
    expect(await open.ready()).toBe(false)
    const other = createStreamServer()
    const fetched = other.handleFetch(new Request('http://x/')).session
    expect(() => fetched?.ready(-1)).toThrow(TypeError)
    await other.close()
    client.close()
  })
})
