import net from 'node:net'
import { Writable } from 'node:stream'
import { openFetchSessions } from '@herald/testkit'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createFrame, createStreamServer, type Session, type StreamServer } from '../src/index.js'
import { listen, openStream, type TestServer } from './helpers.js'

let server: TestServer | undefined
let streams: StreamServer | undefined

afterEach(async () => {
  await streams?.close()
  await server?.close()
})

/** Counts the writes that reach a socket's libuv handle (each is one write/writev syscall). */
function countWrites(socket: net.Socket): { writes: number } {
  const counter = { writes: 0 }
  const target = socket as unknown as {
    _write: (...args: unknown[]) => void
    _writev: (...args: unknown[]) => void
  }
  const write = target._write.bind(socket)
  const writev = target._writev.bind(socket)
  target._write = (...args) => {
    counter.writes++
    write(...args)
  }
  target._writev = (...args) => {
    counter.writes++
    writev(...args)
  }
  return counter
}

describe('write path', () => {
  it('sends 20 frames queued in one tick in ONE socket write', async () => {
    streams = createStreamServer({ heartbeatMs: 0 })
    const s = streams
    let socket: net.Socket | undefined
    let session: Session | undefined
    server = await listen((req, res) => {
      session = s.handleNode(req, res)
      socket = req.socket
    })
    const client = await openStream(server.port)
    if (socket === undefined || session === undefined) throw new Error('no session')
    const counter = countWrites(socket)
    const frames = Array.from({ length: 20 }, (_, i) =>
      createFrame({ id: String(i), data: `e${i}` }),
    )
    for (const frame of frames) session.sendFrame(frame)
    await client.until(() => client.events.length === 20, '20 events')
    expect(client.events.map((e) => e.lastEventId)).toEqual(frames.map((_, i) => String(i)))
    expect(counter.writes).toBe(1)

    // And the next turn's frames go out in their own single write.
    for (let i = 0; i < 5; i++) session.send({ data: `later${i}` })
    await client.until(() => client.events.length === 25, '25 events')
    expect(counter.writes).toBe(2)

    // Frames queued by 20 separate callbacks of one event-loop turn still share one write
    // (Node's own per-tick corking would have made 20 here).
    for (let i = 0; i < 20; i++) setImmediate(() => session?.send({ data: `cb${i}` }))
    await client.until(() => client.events.length === 45, '45 events')
    expect(counter.writes).toBe(3)
    client.close()
  })

  it('shares one frame between sessions without copying it', async () => {
    streams = createStreamServer({ heartbeatMs: 0 })
    const s = streams
    server = await listen((req, res) => {
      s.handleNode(req, res)
    })
    const clients = await Promise.all([1, 2, 3].map(() => openStream(server?.port ?? 0)))
    const frame = createFrame({ event: 'price', data: '{"p":101}', id: '9' })
    for (const session of s.sessions) expect(session.sendFrame(frame)).toBe(true)
    for (const client of clients) {
      await client.until(() => client.events.length === 1)
      expect(client.events[0]).toEqual({ type: 'price', data: '{"p":101}', lastEventId: '9' })
      client.close()
    }
  })

  it('closes a reader that never reads as a slow consumer, with memory bounded', async () => {
    const lines: Record<string, unknown>[] = []
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(JSON.parse(String(chunk)))
        callback()
      },
    })
    const slowConsumers: number[] = []
    const maxQueueBytes = 256 * 1024
    streams = createStreamServer({
      maxQueueBytes,
      heartbeatMs: 0,
      logger: pino({ level: 'info' }, destination),
      metrics: {
        increment(name, value) {
          if (name === 'slow_consumers_total') slowConsumers.push(value)
        },
        observe() {},
      },
    })
    const s = streams
    let serverSocket: net.Socket | undefined
    let session: Session | undefined
    server = await listen((req, res) => {
      serverSocket = req.socket
      session = s.handleNode(req, res)
    })
    // A raw client that sends its request and then never reads a byte.
    const client = net.connect(server.port, '127.0.0.1')
    client.pause()
    client.write('GET / HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
    const port = server.port
    const started = await new Promise<Session>((resolve) => {
      const poll = () => (session === undefined ? setImmediate(poll) : resolve(session))
      poll()
    })
    expect(port).toBeGreaterThan(0)

    const frame = createFrame({ data: 'x'.repeat(16 * 1024) })
    let maxBuffered = 0
    let turns = 0
    // Push one frame per turn until the server gives up on the reader (the kernel's socket
    // buffers absorb a few MB first; 100 MB is far past any of them).
    while (started.closeReason === undefined && turns < 6400) {
      started.sendFrame(frame)
      maxBuffered = Math.max(maxBuffered, started.bufferedBytes)
      turns++
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await started.closed).toBe('slow-consumer')
    // Never more than the bound plus the one frame that tripped it.
    expect(maxBuffered).toBeLessThanOrEqual(maxQueueBytes + frame.bytes.byteLength)
    // Released at once: nothing queued, the socket torn down with its buffers.
    expect(started.bufferedBytes).toBe(0)
    expect(serverSocket?.destroyed).toBe(true)
    expect(s.size).toBe(0)
    expect(started.sendFrame(frame)).toBe(false)
    expect(slowConsumers).toEqual([1])
    const line = lines.find((l) => l.msg === 'slow consumer closed')
    expect(line).toMatchObject({
      level: 40,
      code: 'HERALD_SLOW_CONSUMER',
      sessionId: started.id,
      maxQueueBytes,
    })
    client.destroy()
  })

  it('closes a session whose queue alone passes the bound within one turn', async () => {
    streams = createStreamServer({ maxQueueBytes: 1000, heartbeatMs: 0 })
    const s = streams
    let session: Session | undefined
    server = await listen((req, res) => {
      session = s.handleNode(req, res)
    })
    const client = await openStream(server.port)
    // 258 bytes a frame, plus the 64 each queued frame is charged for what it pins beyond its
    // bytes: three fit in 1000, the fourth does not.
    const frame = createFrame({ data: 'y'.repeat(250) })
    const results = [1, 2, 3, 4].map(() => session?.sendFrame(frame))
    expect(results).toEqual([true, true, true, false])
    expect(await session?.closed).toBe('slow-consumer')
    await client.until(() => client.ended)
    // The queue was dropped, not written.
    expect(client.events).toEqual([])
  })
})

describe('flush slices', () => {
  /** A stream server writing 3 sessions per slice, logging each slice as `slice of N`. */
  function slicedServer(log: string[]): StreamServer {
    return createStreamServer({
      heartbeatMs: 0,
      flushSliceSessions: 3,
      metrics: {
        increment() {},
        observe(name, value) {
          if (name === 'flush_sessions') log.push(`slice of ${value}`)
        },
      },
    })
  }

  it('writes a long pass in slices of flushSliceSessions, one per event-loop turn, with other callbacks running between two slices', async () => {
    const log: string[] = []
    streams = slicedServer(log)
    const sessions = openFetchSessions(streams, 8)
    expect(streams.writeLagMs).toBe(0)
    const frame = createFrame({ id: '1', data: 'x' })
    for (const session of sessions) session.sendFrame(frame)
    expect(streams.writeLagMs).toBeGreaterThanOrEqual(0)
    // Stands for I/O ready in the meantime (a publish, a new connection): it is queued after
    // the flush, and runs after the first slice, not after the whole pass.
    setImmediate(() => {
      log.push('other work')
      // A session written in the first slice that queues again waits for the next pass.
      sessions[0]?.sendFrame(createFrame({ id: '2', data: 'y' }))
    })
    await until(() => log.length >= 4)
    // The last slice ends the pass (2 sessions) and goes on with the next one (1 session).
    expect(log).toEqual(['slice of 3', 'other work', 'slice of 3', 'slice of 3'])
    expect(streams.writeLagMs).toBe(0)
  })

  it('writeDelayMs: 0 while nothing waits or before the write rate is measured; else twice the frames queued in all sessions over that rate, less once they are written or dropped', async () => {
    const log: string[] = []
    streams = slicedServer(log)
    const s = streams
    const sessions = openFetchSessions(s, 8)
    expect(s.writeDelayMs).toBe(0)
    expect(s.writeDelayMsWith(1000)).toBe(0)
    // The first pass measures the rate: 0 before it.
    for (const session of sessions) session.sendFrame(createFrame({ id: '1', data: 'x' }))
    expect(s.writeDelayMs).toBe(0)
    await s.flushed()
    expect(s.writeDelayMs).toBe(0)
    // Measured now (some frames per ms): the delay follows the frames queued, 8 then 16.
    const perFrame = s.writeDelayMsWith(1) / 2
    expect(perFrame).toBeGreaterThan(0)
    for (const session of sessions) session.sendFrame(createFrame({ id: '2', data: 'y' }))
    const eight = s.writeDelayMs
    expect(eight).toBeCloseTo(16 * perFrame, 6)
    expect(s.writeDelayMsWith(8)).toBeCloseTo(2 * eight, 6)
    // A closing session's frames are not waited for: handed over at a server close, dropped
    // with a slow consumer.
    sessions[0]?.close()
    sessions[1]?.close('slow-consumer')
    expect(s.writeDelayMs).toBeCloseTo(12 * perFrame, 6)
    expect(() => s.writeDelayMsWith(-1)).toThrow(TypeError)
    await s.flushed()
    expect(s.writeLagMs).toBe(0)
    expect(s.writeDelayMs).toBe(0)
  })

  it('flushed() resolves once every frame queued before it has been written: at once when none waits, else at the end of its pass', async () => {
    const log: string[] = []
    streams = slicedServer(log)
    const sessions = openFetchSessions(streams, 8)
    await streams.flushed()
    const frame = createFrame({ id: '1', data: 'x' })
    for (const session of sessions) session.sendFrame(frame)
    const done = streams.flushed().then(() => log.push('flushed'))
    await done
    expect(log).toEqual(['slice of 3', 'slice of 3', 'slice of 2', 'flushed'])
    expect(streams.writeLagMs).toBe(0)
    await streams.flushed()
  })

  it('writes every pending session in one turn when they fit in a slice (the default 256)', async () => {
    const slices: number[] = []
    streams = createStreamServer({
      heartbeatMs: 0,
      metrics: {
        increment() {},
        observe(name, value) {
          if (name === 'flush_sessions') slices.push(value)
        },
      },
    })
    const sessions = openFetchSessions(streams, 256)
    for (const session of sessions) session.send({ data: 'x' })
    await until(() => slices.length > 0)
    expect(slices).toEqual([256])
  })

  it('ends a slice once it wrote flushSliceBytes (after the session that reached it): large queues make short turns', async () => {
    const slices: number[] = []
    const bytes: number[] = []
    streams = createStreamServer({
      heartbeatMs: 0,
      flushSliceBytes: 2500,
      metrics: {
        increment(name, value) {
          if (name === 'bytes_total') bytes.push(value)
        },
        observe(name, value) {
          if (name === 'flush_sessions') slices.push(value)
        },
      },
    })
    const sessions = openFetchSessions(streams, 8)
    const frame = createFrame({ data: 'x'.repeat(1000) })
    for (const session of sessions) session.sendFrame(frame)
    await streams.flushed()
    // 1008-byte frames: the third session's write passes 2500 bytes and ends its slice.
    expect(frame.bytes.byteLength).toBe(1008)
    expect(slices).toEqual([3, 3, 2])
    expect(bytes).toEqual([3024, 3024, 2016])
  })

  it('refuses a slice that is not a positive integer', () => {
    expect(() => createStreamServer({ flushSliceSessions: 0 })).toThrow(TypeError)
    expect(() => createStreamServer({ flushSliceSessions: 1.5 })).toThrow(TypeError)
    expect(() => createStreamServer({ flushSliceBytes: 0 })).toThrow(TypeError)
  })
})

/** Polls `condition` once per event-loop turn (setImmediate), up to 10 000 turns. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (condition()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error('condition never held')
}
