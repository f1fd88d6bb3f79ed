import { afterEach, describe, expect, it, vi } from 'vitest'
import { createStreamServer, type Session, type StreamServer } from '../src/index.js'
import { listen, openStream, type TestServer } from './helpers.js'

let server: TestServer | undefined
let streams: StreamServer | undefined

afterEach(async () => {
  vi.useRealTimers()
  await streams?.close()
  await server?.close()
})

// Only the heartbeat sweep's interval and the clock are faked: sockets and the per-turn
// flush (setImmediate) stay real.
const fake = () => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })

async function start(heartbeatMs: number, extra: Parameters<typeof createStreamServer>[0] = {}) {
  streams = createStreamServer({ heartbeatMs, ...extra })
  const s = streams
  let session: Session | undefined
  server = await listen((req, res) => {
    session = s.handleNode(req, res)
  })
  const client = await openStream(server.port)
  if (session === undefined) throw new Error('no session')
  return { client, session }
}

describe('heartbeat', () => {
  it('sends a comment only after heartbeatMs of idleness', async () => {
    fake()
    const { client, session } = await start(1000)
    vi.advanceTimersByTime(999)
    session.send({ data: 'm1' })
    await client.until(() => client.events.length === 1)
    // 999 ms idle, then written: no heartbeat yet.
    expect(client.comments).toEqual([])

    vi.advanceTimersByTime(900)
    session.send({ data: 'm2' })
    await client.until(() => client.events.length === 2)
    expect(client.comments).toEqual([])

    // Now a full interval of silence: exactly one heartbeat arrives.
    vi.advanceTimersByTime(1250)
    await client.until(() => client.comments.length === 1, 'heartbeat')
    expect(client.comments).toEqual(['heartbeat'])
    expect(client.raw.join('').endsWith('data: m2\n\n: heartbeat\n')).toBe(true)

    // The heartbeat counts as a write: the next one needs another idle interval.
    vi.advanceTimersByTime(750)
    session.send({ data: 'm3' })
    await client.until(() => client.events.length === 3)
    expect(client.comments).toHaveLength(1)
    client.close()
  })

  it('never sends one to a busy session', async () => {
    fake()
    const { client, session } = await start(1000)
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(500)
      session.send({ data: `busy${i}` })
      await client.until(() => client.events.length === i + 1)
    }
    expect(client.comments).toEqual([])
    client.close()
  })

  it('is off with heartbeatMs 0', async () => {
    fake()
    const { client, session } = await start(0)
    vi.advanceTimersByTime(60_000)
    session.send({ data: 'after a minute' })
    await client.until(() => client.events.length === 1)
    expect(client.comments).toEqual([])
    client.close()
  })

  it('expires sessions after maxSessionMs', async () => {
    fake()
    const { client, session } = await start(0, { maxSessionMs: 4000 })
    vi.advanceTimersByTime(3999)
    expect(session.closeReason).toBeUndefined()
    vi.advanceTimersByTime(1001)
    expect(await session.closed).toBe('expired')
    await client.until(() => client.ended)
  })
})
