/**
 * Differential test against Chromium's native EventSource: the same scripted server
 * scenarios, run once with the native class and once with Herald's, must produce the same
 * trace of events (type, readyState, data, lastEventId, origin) and the same requests
 * (Last-Event-ID on each reconnection).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { launchChromium } from '@herald/testkit'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SeenRequest, SSE_HEADERS, startServer, type TestServer } from './sse-server.js'

type Scenario = (index: number, request: SeenRequest) => void

/** Each scenario answers the n-th request of one implementation. */
const scenarios: Record<string, Scenario> = {
  // BOM, comments, CRLF, named events, multi-line data, an empty id (clears the last event
  // ID), an ID-only block (sets it), reconnection with Last-Event-ID, then 204.
  stream(index, { res }) {
    if (index === 0) {
      res.writeHead(200, SSE_HEADERS)
      res.write('\uFEFF: hello\r\nretry: 10\r\nid: 1\r\ndata: a\r\n\r\n')
      res.write('event: update\ndata: b\ndata: c\n\nid\ndata: no id\n\n')
      res.end('id: 2\n\n')
    } else if (index === 1) {
      res.writeHead(200, SSE_HEADERS).end('data: after\n\n')
    } else {
      res.writeHead(204).end()
    }
  },
  notFound(_, { res }) {
    res.writeHead(404).end()
  },
  serverError(_, { res }) {
    res.writeHead(500, { 'content-type': 'text/event-stream' }).end('data: ignored\n\n')
  },
  wrongType(_, { res }) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('data: ignored\n\n')
  },
  redirect(index, { res, url }) {
    if (index === 0) {
      res.writeHead(307, { location: `${url.split('?')[0]}?moved` }).end()
    } else if (index === 1) {
      res.writeHead(200, SSE_HEADERS).end('retry: 10\nid: r\ndata: moved\n\n')
    } else {
      res.writeHead(204).end()
    }
  },
  reset(index, { res }) {
    if (index === 0) {
      res.writeHead(200, SSE_HEADERS)
      res.write('retry: 10\nid: 5\ndata: x\n\n', () => setTimeout(() => res.socket?.destroy(), 20))
    } else {
      res.writeHead(204).end()
    }
  },
  unterminated(index, { res }) {
    // The last event has no blank line: it must be discarded, not dispatched.
    if (index === 0) res.writeHead(200, SSE_HEADERS).end('retry: 10\ndata: kept\n\ndata: lost')
    else res.writeHead(204).end()
  },
}

let browser: Browser
let server: TestServer
let bundle = ''
const counters = new Map<string, number>()

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'herald-client-diff-'))
  const out = join(dir, 'client.js')
  const script = fileURLToPath(new URL('../../../scripts/check-client-size.mjs', import.meta.url))
  const run = spawnSync(process.execPath, [script, '--out', out], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`bundle build failed: ${run.stderr}`)
  bundle = readFileSync(out, 'utf8')
  rmSync(dir, { recursive: true })
  server = await startServer((request) => {
    const { url, res } = request
    if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(
        `<!doctype html><script type="module">
          import * as herald from '/client.js'
          Object.assign(window, { herald, ready: true })
        </script>`,
      )
      return
    }
    if (url === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
      return
    }
    // /<implementation>/<scenario>[?...]
    const [, implementation, name] = url.split('?')[0]?.split('/') ?? []
    const scenario = scenarios[name ?? '']
    if (!implementation || !scenario) {
      res.writeHead(404).end()
      return
    }
    const key = `${implementation}/${name}`
    const index = counters.get(key) ?? 0
    counters.set(key, index + 1)
    scenario(index, request)
  })
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

/** Runs one scenario with one implementation; resolves with the trace once CLOSED. */
function trace(page: Page, implementation: 'native' | 'herald', name: string): Promise<string[]> {
  return page.evaluate(
    ({ implementation, name }) =>
      new Promise<string[]>((resolve, reject) => {
        type Globals = { herald: typeof import('../src/index.js') }
        const { herald } = window as unknown as Globals
        const url = `/${implementation}/${name}`
        const source =
          implementation === 'native'
            ? new EventSource(url)
            : new herald.EventSource(url, { backoff: { initialMs: 0, maxMs: 0 } })
        const log: string[] = []
        const record = (event: Event) => {
          const message = event as MessageEvent
          log.push(
            [
              event.type,
              source.readyState,
              message.data ?? '-',
              message.lastEventId ?? '-',
              message.origin ?? '-',
            ].join('|'),
          )
          if (event.type === 'error' && source.readyState === 2) resolve(log)
        }
        for (const type of ['open', 'message', 'update', 'error']) {
          source.addEventListener(type, record)
        }
        setTimeout(() => {
          source.close()
          reject(new Error(`${url} did not close; trace so far: ${log.join(', ')}`))
        }, 10_000)
      }),
    { implementation, name },
  )
}

describe('Herald EventSource vs the native EventSource (Chromium)', () => {
  it.each(Object.keys(scenarios))('behaves the same: %s', async (name) => {
    const context = await browser.newContext()
    try {
      const page = await context.newPage()
      await page.goto(`${server.origin}/`)
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true)
      const native = await trace(page, 'native', name)
      const herald = await trace(page, 'herald', name)
      expect(herald).toEqual(native)
      const lastEventIds = (implementation: string) =>
        server.requests
          .filter((r) => r.url.startsWith(`/${implementation}/${name}`))
          .map((r) => r.headers['last-event-id'] ?? '-')
      expect(lastEventIds('herald')).toEqual(lastEventIds('native'))
      // Sanity: the scenario did something.
      expect(native.length).toBeGreaterThan(0)
    } finally {
      await context.close()
    }
  })
})
