/**
 * The client's browser bundle in real Chromium, against a real Node event server with a
 * replay log: events arrive, a killed connection resumes without loss, withCredentials
 * sends cookies cross-origin, a hidden page pauses and resumes, and it runs in a worker.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { launchChromium } from '@herald/testkit'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type SeenRequest, SSE_HEADERS, startServer, type TestServer } from './sse-server.js'

/** A tiny event hub: a log, replay from Last-Event-ID, live fan-out, and a kill switch. */
interface EventServer {
  server: TestServer
  publish(data: string): void
  /** Destroys every open event stream, as a crashing proxy would. */
  kill(): void
  streams: SeenRequest[]
  /** Event stream requests only (not the page, the bundle, or preflights). */
  subscriptions(): SeenRequest[]
}

let bundle = ''
let browser: Browser
const cleanups: (() => unknown)[] = []

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-client-'))
  const out = join(dir, 'client.js')
  const script = fileURLToPath(new URL('../../../scripts/check-client-size.mjs', import.meta.url))
  const run = spawnSync(process.execPath, [script, '--out', out], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`bundle build failed: ${run.stderr}`)
  bundle = readFileSync(out, 'utf8')
  rmSync(dir, { recursive: true })
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
})

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const page = `<!doctype html><meta charset="utf-8"><title>herald client</title>
<script type="module">
  import * as herald from '/client.js'
  window.herald = herald
  window.got = []
  window.ready = true
</script>`

const worker = `import { subscribe } from '/client.js'
self.onmessage = async ({ data: url }) => {
  for await (const event of subscribe(url, { json: true })) self.postMessage(event)
}`

async function startEventServer(): Promise<EventServer> {
  const log: { id: string; data: string }[] = []
  const streams: SeenRequest[] = []
  const server = await startServer(async (request) => {
    const { req, res, url, method } = request
    const origin = req.headers.origin
    const cors: Record<string, string> = origin
      ? {
          'access-control-allow-origin': origin,
          'access-control-allow-credentials': 'true',
          'access-control-allow-headers': 'last-event-id, authorization',
          vary: 'origin',
        }
      : {}
    if (method === 'OPTIONS') {
      res.writeHead(204, cors).end()
      return
    }
    if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page)
      return
    }
    if (url === '/client.js' || url === '/worker.js') {
      res
        .writeHead(200, { 'content-type': 'text/javascript' })
        .end(url === '/client.js' ? bundle : worker)
      return
    }
    if (!url.startsWith('/events')) {
      res.writeHead(404).end()
      return
    }
    const after = Number(req.headers['last-event-id'] ?? 0)
    res.writeHead(200, { ...SSE_HEADERS, ...cors })
    res.write(': welcome\n\n')
    for (const event of log) {
      if (Number(event.id) > after) res.write(`id: ${event.id}\ndata: ${event.data}\n\n`)
    }
    streams.push(request)
    await request.closed
    streams.splice(streams.indexOf(request), 1)
  })
  cleanups.push(() => server.close())
  return {
    server,
    streams,
    publish(data) {
      const id = String(log.length + 1)
      log.push({ id, data })
      for (const { res } of streams) res.write(`id: ${id}\ndata: ${data}\n\n`)
    },
    kill() {
      for (const { res } of streams) res.socket?.destroy()
    },
    subscriptions: () => server.requests.filter((r) => r.url.startsWith('/events')),
  }
}

async function openPage(origin: string): Promise<Page> {
  const context = await browser.newContext()
  cleanups.push(() => context.close())
  const tab = await context.newPage()
  await tab.goto(`${origin}/`)
  await tab.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true)
  return tab
}

/** Resolves once `count` event streams are open on the server. */
async function streamsOpen(events: EventServer, count: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (events.streams.length !== count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} open streams`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

type PageGlobals = {
  herald: typeof import('../src/index.js')
  got: string[]
  source: InstanceType<typeof import('../src/index.js').EventSource>
}

describe('@herald/client in Chromium', () => {
  it('receives events, and resumes without loss after the server kills the connection', async () => {
    const events = await startEventServer()
    const tab = await openPage(events.server.origin)
    await tab.evaluate(() => {
      const g = window as unknown as PageGlobals
      g.source = new g.herald.EventSource('/events', { backoff: { initialMs: 10, maxMs: 50 } })
      g.source.onmessage = (event) => g.got.push(`${event.lastEventId}:${event.data}`)
    })
    await streamsOpen(events, 1)
    for (const data of ['a', 'b', 'c']) events.publish(data)
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 3)
    events.kill()
    // Published while the client is disconnected: only the replay can deliver them.
    events.publish('d')
    events.publish('e')
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 5)
    await streamsOpen(events, 1)
    events.publish('f')
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 6)
    expect(await tab.evaluate(() => (window as unknown as PageGlobals).got)).toEqual([
      '1:a',
      '2:b',
      '3:c',
      '4:d',
      '5:e',
      '6:f',
    ])
    const subscriptions = events.subscriptions()
    expect(subscriptions.map((r) => r.headers['last-event-id'])).toEqual([undefined, '3'])
    expect(await tab.evaluate(() => (window as unknown as PageGlobals).source.readyState)).toBe(1)
  })

  it('sends cookies cross-origin only with withCredentials, where the server allows it', async () => {
    const site = await startEventServer()
    const api = await startEventServer()
    // Another port is another origin (CORS applies) but the same site, so the cookie is
    // sent whenever the request's credentials mode allows it.
    const tab = await openPage(site.server.origin)
    await tab
      .context()
      .addCookies([{ name: 'session', value: 's3cret', domain: '127.0.0.1', path: '/' }])
    api.publish('hello')
    await tab.evaluate(async (url) => {
      const g = window as unknown as PageGlobals
      const read = (withCredentials: boolean) =>
        new Promise<void>((resolve) => {
          const source = new g.herald.EventSource(url, { withCredentials })
          source.onmessage = (event) => {
            g.got.push(`${withCredentials}:${event.data}:${event.origin}`)
            source.close()
            resolve()
          }
        })
      await read(false)
      await read(true)
    }, `${api.server.origin}/events`)
    expect(await tab.evaluate(() => (window as unknown as PageGlobals).got)).toEqual([
      `false:hello:${api.server.origin}`,
      `true:hello:${api.server.origin}`,
    ])
    const [anonymous, credentialed] = api.subscriptions()
    expect(anonymous?.headers.origin).toBe(site.server.origin)
    expect(anonymous?.headers.cookie).toBeUndefined()
    expect(credentialed?.headers.cookie).toBe('session=s3cret')
  })

  it('pauses while the page is hidden and resumes, with Last-Event-ID, when shown', async () => {
    const events = await startEventServer()
    const tab = await openPage(events.server.origin)
    await tab.evaluate(() => {
      let state: DocumentVisibilityState = 'visible'
      Object.defineProperty(document, 'visibilityState', { get: () => state })
      Object.defineProperty(document, 'hidden', { get: () => state === 'hidden' })
      const w = window as unknown as PageGlobals & { show(visible: boolean): void }
      w.show = (visible) => {
        state = visible ? 'visible' : 'hidden'
        document.dispatchEvent(new Event('visibilitychange'))
      }
      w.source = new w.herald.EventSource('/events', { backoff: { initialMs: 10, maxMs: 50 } })
      w.source.onmessage = (event) => w.got.push(`${event.lastEventId}:${event.data}`)
    })
    await streamsOpen(events, 1)
    events.publish('seen')
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 1)
    const first = events.streams[0]
    await tab.evaluate(() => (window as unknown as { show(v: boolean): void }).show(false))
    await first?.closed
    events.publish('while hidden')
    expect(await tab.evaluate(() => (window as unknown as PageGlobals).source.readyState)).toBe(0)
    expect(events.subscriptions()).toHaveLength(1)
    await tab.evaluate(() => (window as unknown as { show(v: boolean): void }).show(true))
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 2)
    expect(await tab.evaluate(() => (window as unknown as PageGlobals).got)).toEqual([
      '1:seen',
      '2:while hidden',
    ])
    expect(events.subscriptions().map((r) => r.headers['last-event-id'])).toEqual([undefined, '1'])
  })

  it('never pauses (or re-sends) a POST stream when the page is hidden', async () => {
    const events = await startEventServer()
    const tab = await openPage(events.server.origin)
    await tab.evaluate(() => {
      const g = window as unknown as PageGlobals
      g.source = new g.herald.EventSource('/events', { method: 'POST', body: 'prompt' })
      g.source.onmessage = (event) => g.got.push(event.data)
    })
    await streamsOpen(events, 1)
    await tab.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' })
      document.dispatchEvent(new Event('visibilitychange'))
    })
    events.publish('answer')
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 1)
    expect(events.subscriptions().map((r) => [r.method, r.body])).toEqual([['POST', 'prompt']])
    expect(events.streams).toHaveLength(1)
  })

  it('keeps streaming while hidden with pauseWhenHidden: false', async () => {
    const events = await startEventServer()
    const tab = await openPage(events.server.origin)
    await tab.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' })
      const g = window as unknown as PageGlobals
      g.source = new g.herald.EventSource('/events', { pauseWhenHidden: false })
      g.source.onmessage = (event) => g.got.push(event.data)
      document.dispatchEvent(new Event('visibilitychange'))
    })
    await streamsOpen(events, 1)
    events.publish('still here')
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 1)
    expect(events.subscriptions()).toHaveLength(1)
  })

  it('closes on pagehide (back/forward cache) and resumes on pageshow', async () => {
    const events = await startEventServer()
    const tab = await openPage(events.server.origin)
    await tab.evaluate(() => {
      const g = window as unknown as PageGlobals
      g.source = new g.herald.EventSource('/events')
      g.source.onmessage = (event) => g.got.push(`${event.lastEventId}:${event.data}`)
    })
    await streamsOpen(events, 1)
    events.publish('before')
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 1)
    const first = events.streams[0]
    await tab.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pagehide')))
    await first?.closed
    events.publish('in the cache')
    await tab.evaluate(() =>
      window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })),
    )
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 2)
    expect(await tab.evaluate(() => (window as unknown as PageGlobals).got)).toEqual([
      '1:before',
      '2:in the cache',
    ])
    expect(events.subscriptions().map((r) => r.headers['last-event-id'])).toEqual([undefined, '1'])
  })

  it('retries at once when the browser comes back online, instead of sitting out the backoff', async () => {
    const events = await startEventServer()
    const tab = await openPage(events.server.origin)
    await tab.evaluate(() => {
      const g = window as unknown as PageGlobals & { delays: number[] }
      g.delays = []
      // A backoff far longer than the test: only the online event can trigger the retry.
      g.source = new g.herald.EventSource('/events', {
        backoff: { initialMs: 600_000, maxMs: 600_000 },
        // The first attempt fails as if the network were down.
        fetch: (() => {
          let calls = 0
          return (input: RequestInfo | URL, init?: RequestInit) =>
            ++calls === 1 ? Promise.reject(new TypeError('Failed to fetch')) : fetch(input, init)
        })(),
      })
      g.source.onerror = (event) => g.delays.push(event.delayMs ?? -1)
      g.source.onmessage = (event) => g.got.push(event.data)
    })
    await tab.waitForFunction(() => (window as unknown as { delays: number[] }).delays.length === 1)
    expect(events.subscriptions()).toHaveLength(0)
    events.publish('back')
    await tab.evaluate(() => window.dispatchEvent(new Event('online')))
    await tab.waitForFunction(() => (window as unknown as PageGlobals).got.length === 1)
    expect(events.subscriptions()).toHaveLength(1)
  })

  it('runs subscribe() in a module worker (no document, no window)', async () => {
    const events = await startEventServer()
    events.publish(JSON.stringify({ n: 1 }))
    const tab = await openPage(events.server.origin)
    const received = await tab.evaluate(
      (url) =>
        new Promise<unknown>((resolve) => {
          const w = new Worker('/worker.js', { type: 'module' })
          w.onmessage = (event) => {
            resolve(event.data)
            w.terminate()
          }
          w.postMessage(url)
        }),
      `${events.server.origin}/events`,
    )
    expect(received).toEqual({ type: 'message', data: { n: 1 }, lastEventId: '1' })
  })
})
