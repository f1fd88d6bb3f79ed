/**
 * Black-box, once on Redis and once on NATS: the node's connection to the backend is cut
 * while the backend SERVER STAYS UP (a TCP proxy between them resets every connection and
 * refuses new ones for a while). On that node: publishes answer 503
 * HERALD_STORE_UNAVAILABLE with Retry-After within the deadline, `/readyz` says 503, open
 * streams stay open with heartbeats; when the path is back, delivery resumes with every event
 * another node published meanwhile, in order, nothing lost or repeated, no reconnect.
 */
import type { BackendServer, HubProcess } from '@herald/testkit'
import { startHubProcess, startNatsServer, startRedisServer } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFaultProxy, type FaultProxy } from '../src/chaos/fault-proxy.js'

interface RawStream {
  /** Events (id, data) in arrival order. */
  events: Array<{ id: string; data: string }>
  /** Heartbeat comments received so far. */
  heartbeats(): number
  /** Whether the response body ended. */
  ended(): boolean
  until(ok: () => boolean, what: string, ms?: number): Promise<void>
  close(): void
}

/** One stream, read as raw text so heartbeat comments count too. */
async function openRaw(url: string): Promise<RawStream> {
  const controller = new AbortController()
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream' },
    signal: controller.signal,
  })
  expect(res.status).toBe(200)
  const events: Array<{ id: string; data: string }> = []
  let beats = 0
  let done = false
  let buffer = ''
  const waiters = new Set<() => void>()
  void (async () => {
    const decoder = new TextDecoder()
    let id = ''
    let data: string | undefined
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let end = buffer.indexOf('\n')
        while (end !== -1) {
          const line = buffer.slice(0, end)
          buffer = buffer.slice(end + 1)
          if (line.startsWith(':')) beats++
          else if (line.startsWith('id: ')) id = line.slice(4)
          else if (line.startsWith('data: ')) data = line.slice(6)
          else if (line === '') {
            if (data !== undefined) events.push({ id, data })
            data = undefined
          }
          end = buffer.indexOf('\n')
        }
        for (const wake of waiters) wake()
      }
    } catch {}
    done = true
    for (const wake of waiters) wake()
  })()
  return {
    events,
    heartbeats: () => beats,
    ended: () => done,
    until(ok, what, ms = 20_000) {
      if (ok()) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(
            new Error(
              `${what}: not reached; events ${JSON.stringify(events.map((e) => e.data))}, ${beats} heartbeats, ended ${done}`,
            ),
          )
        }, ms)
        const check = (): void => {
          if (!ok()) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        waiters.add(check)
      })
    },
    close: () => controller.abort(),
  }
}

async function publish(hub: HubProcess, data: string) {
  const started = Date.now()
  const res = await fetch(`${hub.url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'cut/t', data }),
  })
  const body = (await res.json()) as { id?: string; code?: string; error?: { code?: string } }
  return {
    status: res.status,
    code: body.code ?? body.error?.code,
    id: body.id,
    retryAfter: res.headers.get('retry-after'),
    ms: Date.now() - started,
  }
}

/** Polls `fn` until it holds (the hub's own state, not a timer, decides). */
async function eventually(fn: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`${what}: not reached in ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe.each([
  ['redis', () => startRedisServer({ persistence: 'aof' }), 'redis'],
  ['nats', () => startNatsServer(), 'nats'],
] as Array<[string, () => Promise<BackendServer>, string]>)(
  'cutting the %s connection (server up)',
  (_name, start, scheme) => {
    let server: BackendServer
    let proxy: FaultProxy
    let open = true
    let cutNode: HubProcess
    let other: HubProcess
    beforeAll(async () => {
      server = await start()
      proxy = await createFaultProxy({
        upstreams: () => (open ? [{ host: '127.0.0.1', port: server.port }] : []),
      })
      const proxied = `${scheme}://127.0.0.1:${proxy.port}?namespace=cut`
      const direct = `${server.url}?namespace=cut`
      ;[cutNode, other] = await Promise.all([
        startHubProcess({ args: ['--store', proxied, '--heartbeat', '1'], timeoutMs: 45_000 }),
        startHubProcess({ args: ['--store', direct], timeoutMs: 45_000 }),
      ])
    }, 60_000)
    afterAll(async () => {
      await Promise.all([cutNode?.stop('SIGKILL'), other?.stop('SIGKILL')])
      await proxy?.close()
      await server?.dispose()
    })

    it('503 + Retry-After within the deadline, /readyz 503, heartbeats, then nothing lost', async () => {
      // Resume from a known id: replay then live has no gap by design, whenever the node's
      // tail found its place in the log (a node that just started positions it in the
      // background; a live stream opened before that may miss what is published meanwhile).
      const warm = await publish(other, 'warm')
      expect(warm.status).toBe(200)
      const stream = await openRaw(`${cutNode.url}/events?topic=cut/t&lastEventId=${warm.id}`)
      const before = await publish(other, 'before')
      expect(before.status).toBe(200)
      await stream.until(() => stream.events.length === 1, 'the first event')

      // Cut: every connection of the node to the backend is reset, and new ones are refused.
      open = false
      expect(proxy.cut(1)).toBeGreaterThan(0)
      const refused = await publish(cutNode, 'refused')
      expect(refused.status).toBe(503)
      expect(refused.code).toBe('HERALD_STORE_UNAVAILABLE')
      expect(refused.retryAfter).not.toBeNull()
      expect(refused.ms).toBeLessThan(6000) // the deadline is 2 s; a hang would be unbounded
      await eventually(
        async () => (await fetch(`${cutNode.url}/readyz`)).status === 503,
        '/readyz 503',
      )

      // The backend is up: the other node goes on publishing.
      const during: string[] = []
      for (let i = 0; i < 20; i++) {
        const r = await publish(other, `during-${i}`)
        expect(r.status).toBe(200)
        during.push(r.id as string)
      }
      // The cut node's stream stays open and keeps its heartbeats.
      const beats = stream.heartbeats()
      await stream.until(() => stream.heartbeats() >= beats + 2, 'two heartbeats during the cut')
      expect(stream.ended()).toBe(false)
      expect((await fetch(`${cutNode.url}/readyz`)).status).toBe(503)

      // The path is back: the node reconnects by itself and delivers what it missed.
      open = true
      await eventually(
        async () => (await fetch(`${cutNode.url}/readyz`)).status === 200,
        '/readyz 200',
      )
      const after = await publish(cutNode, 'after')
      expect(after.status).toBe(200)
      await stream.until(() => stream.events.length === 22, 'every event')
      expect(stream.events.map((e) => e.data)).toEqual([
        'before',
        ...during.map((_, i) => `during-${i}`),
        'after',
      ])
      expect(stream.events.slice(1, 21).map((e) => e.id)).toEqual(during)
      expect(stream.ended()).toBe(false)
      stream.close()
    }, 90_000)
  },
)
