/**
 * The fault proxy on real sockets: each mode and action does to the bytes what it says.
 * Only lower bounds on time (a delay the proxy must add); no upper bound, the machine is shared.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createFaultProxy, type FaultProxy } from './fault-proxy.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

/** An upstream that echoes, and a proxy in front of it. */
async function setup(): Promise<{ proxy: FaultProxy; upstreamSockets: net.Socket[] }> {
  const upstreamSockets: net.Socket[] = []
  const upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
    upstreamSockets.push(socket)
    socket.on('data', (chunk) => socket.write(chunk))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const port = (upstream.address() as net.AddressInfo).port
  const proxy = await createFaultProxy({ upstreams: () => [{ host: '127.0.0.1', port }] })
  cleanup.push(
    () => new Promise<void>((resolve) => upstream.close(() => resolve())),
    () => {
      for (const s of upstreamSockets) s.destroy()
    },
    () => proxy.close(),
  )
  return { proxy, upstreamSockets }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () =>
      resolve(socket),
    )
    socket.on('error', () => {})
    cleanup.push(() => void socket.destroy())
  })
}

function echo(socket: net.Socket, text: string): Promise<number> {
  const started = performance.now()
  return new Promise((resolve) => {
    let got = ''
    const onData = (chunk: Buffer) => {
      got += chunk.toString()
      if (got.length >= text.length) {
        socket.off('data', onData)
        resolve(performance.now() - started)
      }
    }
    socket.on('data', onData)
    socket.write(text)
  })
}

describe('fault proxy', () => {
  it('passes bytes both ways, then adds latency in latency mode', async () => {
    const { proxy } = await setup()
    const socket = await connect(proxy.port)
    await echo(socket, 'hello')
    proxy.setMode({ kind: 'latency', ms: 200 })
    // Both directions are delayed: at least 2 x 200 ms.
    expect(await echo(socket, 'slow')).toBeGreaterThanOrEqual(395)
    proxy.setMode({ kind: 'pass' })
    await echo(socket, 'fast')
  })

  it('caps bandwidth', async () => {
    const { proxy } = await setup()
    const socket = await connect(proxy.port)
    proxy.setMode({ kind: 'bandwidth', bytesPerSec: 4000 })
    // 2000 bytes at 4000 B/s: half a second (the echo overlaps the two directions).
    expect(await echo(socket, 'x'.repeat(2000))).toBeGreaterThanOrEqual(400)
    proxy.setMode({ kind: 'pass' })
    await echo(socket, 'x'.repeat(2000))
  })

  it('stall forwards nothing until it ends, then everything held', async () => {
    const { proxy } = await setup()
    const socket = await connect(proxy.port)
    proxy.setMode({ kind: 'stall' })
    const got: string[] = []
    socket.on('data', (c) => got.push(c.toString()))
    socket.write('held')
    await new Promise((r) => setTimeout(r, 300))
    expect(got).toEqual([])
    proxy.setMode({ kind: 'pass' })
    await new Promise((r) => setTimeout(r, 200))
    expect(got.join('')).toBe('held')
    await echo(socket, 'back')
  })

  it('blackhole forwards nothing, and resets every connection that lived through it', async () => {
    const { proxy } = await setup()
    const before = await connect(proxy.port)
    proxy.setMode({ kind: 'blackhole' })
    const during = await connect(proxy.port)
    const got: string[] = []
    during.on('data', (c) => got.push(c.toString()))
    during.write('lost')
    await new Promise((r) => setTimeout(r, 300))
    expect(got).toEqual([])
    const resets = [before, during].map(
      (s) =>
        new Promise<string>((resolve) =>
          s.once('error', (e: NodeJS.ErrnoException) => resolve(String(e.code))),
        ),
    )
    proxy.setMode({ kind: 'pass' })
    expect(await Promise.all(resets)).toEqual(['ECONNRESET', 'ECONNRESET'])
    expect(got).toEqual([])
    // New connections pass again.
    await echo(await connect(proxy.port), 'after')
  })

  it('cut resets connections; half-close sends a FIN to the client and keeps the socket readable', async () => {
    const { proxy } = await setup()
    const a = await connect(proxy.port)
    await echo(a, 'a')
    const reset = new Promise<string>((resolve) =>
      a.once('error', (e: NodeJS.ErrnoException) => resolve(String(e.code))),
    )
    expect(proxy.cut(1)).toBe(1)
    expect(await reset).toBe('ECONNRESET')

    const b = await connect(proxy.port)
    await echo(b, 'b')
    const ended = new Promise<void>((resolve) => b.once('end', () => resolve()))
    expect(proxy.halfClose('client')).toBe(1)
    await ended
    expect(b.destroyed).toBe(false)
  })

  it('resets a client when no upstream accepts', async () => {
    const proxy = await createFaultProxy({ upstreams: () => [{ host: '127.0.0.1', port: 1 }] })
    cleanup.push(() => proxy.close())
    const socket = net.connect({ port: proxy.port, host: '127.0.0.1' })
    const closed = await new Promise<boolean>((resolve) => {
      socket.on('error', () => {})
      socket.on('close', () => resolve(true))
    })
    expect(closed).toBe(true)
  })
})
