import net from 'node:net'
import { createParser } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { createStreamServer, type StreamServer } from '../src/index.js'
import { eventually, fetchText, listen, type TestServer } from './helpers.js'

let server: TestServer | undefined
let streams: StreamServer | undefined
const sockets: net.Socket[] = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await streams?.close()
  await server?.close()
})

interface RawClient {
  retries: number[]
  ended: boolean
}

/** A light raw client: 1000 of them cost little. */
function rawClient(port: number, localAddress: string): RawClient {
  const state: RawClient = { retries: [], ended: false }
  const socket = net.connect({ port, host: '127.0.0.1', localAddress })
  sockets.push(socket)
  let headerDone = false
  let pending = ''
  const parser = createParser({ onEvent() {}, onRetry: (ms) => state.retries.push(ms) })
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => {
    if (!headerDone) {
      pending += chunk
      const end = pending.indexOf('\r\n\r\n')
      if (end === -1) return
      headerDone = true
      chunk = pending.slice(end + 4)
    }
    // Chunked encoding: drop the size lines, keep the payload (frames here are small).
    for (const line of chunk.split('\r\n')) {
      if (/^[0-9a-f]+$/.test(line)) {
        if (line === '0') state.ended = true
        continue
      }
      parser.feed(line)
    }
  })
  socket.on('close', () => {
    state.ended = true
  })
  socket.write('GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
  return state
}

describe('drain', () => {
  it('closes 1000 open sessions in waves with jittered retry hints, and refuses new ones', async () => {
    streams = createStreamServer({ heartbeatMs: 0, retryMs: 1000 })
    const s = streams
    const reasons = new Map<string, number>()
    const serverSockets: net.Socket[] = []
    server = await listen((req, res) => {
      serverSockets.push(req.socket)
      const session = s.handleNode(req, res)
      session?.closed.then((reason) => reasons.set(reason, (reasons.get(reason) ?? 0) + 1))
    })
    const port = server.port
    const clients: RawClient[] = []
    for (let i = 0; i < 1000; i++) clients.push(rawClient(port, `127.0.0.${2 + (i % 8)}`))
    await eventually(() => s.size === 1000, '1000 sessions', 20_000)
    // The initial hint is the configured one.
    await eventually(() => clients.every((c) => c.retries.length === 1), 'initial retry hints')

    const drained = s.drain({ deadlineMs: 400, waves: 5, retryJitterMs: 3000 })
    expect(s.draining).toBe(true)
    const refused = await fetchText(port, { headers: { accept: 'text/event-stream' } })
    expect(refused.status).toBe(503)
    expect(JSON.parse(refused.body).error.code).toBe('HERALD_DRAINING')
    expect(refused.headers['retry-after']).toBeDefined()
    await drained
    expect(s.size).toBe(0)
    // drain() resolves once the transports let go of the last bytes, not merely once sessions
    // are marked closed: a process exiting now loses no retry hint.
    expect(serverSockets.filter((socket) => socket.writableLength > 0)).toEqual([])
    await eventually(() => clients.every((c) => c.ended), 'all clients ended', 20_000)
    expect(reasons.get('drain')).toBe(1000)
    // Every client got a second, jittered hint in [1000, 4000] just before the end...
    const hints = clients.map((c) => c.retries[1])
    for (const hint of hints) {
      expect(hint).toBeGreaterThanOrEqual(1000)
      expect(hint).toBeLessThanOrEqual(4000)
    }
    // ...and they are spread out, not one value for all.
    expect(new Set(hints).size).toBeGreaterThan(100)
  })

  it('resolves at once with no sessions', async () => {
    streams = createStreamServer()
    await streams.drain({ deadlineMs: 10 })
    expect(streams.draining).toBe(true)
  })
})
