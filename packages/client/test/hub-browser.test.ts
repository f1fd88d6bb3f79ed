/**
 * The client's browser bundle in real Chromium against the REAL hub (`herald serve`, SQLite
 * store), on another origin than the page: events arrive, a hub restart loses nothing, and
 * withCredentials carries the hub's auth cookie cross-origin.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mintToken } from '@herald/hub'
import { type HubProcess, launchChromium, startHubProcess } from '@herald/testkit'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from './sse-server.js'

const SECRET = 'client-browser-test-secret-0123456789'
let dir = ''
let bundle = ''
let browser: Browser
let site: TestServer
let hubPort = 0
let hub: HubProcess | undefined

type PageGlobals = {
  herald: typeof import('../src/index.js')
  got: string[]
  errors: string[]
}

async function freePort(): Promise<number> {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

function startHub(port: number, extra: string[] = []): Promise<HubProcess> {
  return startHubProcess({
    args: [
      '--port',
      String(port),
      '--store',
      `sqlite:${join(dir, `hub-${port}.db`)}`,
      '--cors-origin',
      site.origin,
      '--jwt-secret',
      SECRET,
      // A drain sends each client a random `retry:` within this many seconds, which the
      // client honours as the floor of its next delay: keep it short for the test.
      '--drain-timeout',
      '1',
      ...extra,
    ],
  })
}

async function publish(token: string, data: string, port = hubPort): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'news', data }),
  })
  expect(response.status).toBeLessThan(300)
}

async function openPage(): Promise<Page> {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(`${site.origin}/`)
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true)
  return page
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-client-hub-'))
  const out = join(dir, 'client.js')
  const script = fileURLToPath(new URL('../../../scripts/check-client-size.mjs', import.meta.url))
  const run = spawnSync(process.execPath, [script, '--out', out], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`bundle build failed: ${run.stderr}`)
  bundle = readFileSync(out, 'utf8')
  site = await startServer(({ url, res }) => {
    if (url === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    } else if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(
        `<!doctype html><script type="module">
          import * as herald from '/client.js'
          Object.assign(window, { herald, got: [], errors: [], ready: true })
        </script>`,
      )
    } else {
      res.writeHead(404).end()
    }
  })
  hubPort = await freePort()
  hub = await startHub(hubPort)
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await hub?.stop()
  await site?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('@herald/client in Chromium against herald serve', () => {
  it('receives events and loses none across a hub restart (Last-Event-ID replay)', async () => {
    const token = await mintToken({ secret: SECRET, publish: ['news'], subscribe: ['news'] })
    const page = await openPage()
    await page.evaluate(
      ({ url, token }) => {
        const g = window as unknown as PageGlobals
        const source = new g.herald.EventSource(url, {
          headers: { authorization: `Bearer ${token}` },
          backoff: { initialMs: 50, maxMs: 200 },
        })
        source.onmessage = (event) => g.got.push(event.data)
        source.onerror = (event) => g.errors.push(event.error.code)
        source.onopen = () => g.errors.push('open')
      },
      { url: `http://127.0.0.1:${hubPort}/events?topic=news`, token },
    )
    await page.waitForFunction(() => (window as unknown as PageGlobals).errors.includes('open'))
    for (const data of ['a', 'b', 'c']) await publish(token, data)
    await page.waitForFunction(() => (window as unknown as PageGlobals).got.length === 3)

    // A deploy: the hub drains and exits, clients fail to reconnect for a while, a new
    // process comes up on the same store.
    await hub?.stop()
    await page.waitForFunction(() => (window as unknown as PageGlobals).errors.length >= 2)
    hub = await startHub(hubPort)
    await publish(token, 'd')
    await publish(token, 'e')
    await page.waitForFunction(() => (window as unknown as PageGlobals).got.length >= 5)
    await publish(token, 'f')
    await page.waitForFunction(() => (window as unknown as PageGlobals).got.length >= 6)
    expect(await page.evaluate(() => (window as unknown as PageGlobals).got)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
      'f',
    ])
    await page.context().close()
  })

  it('sends the auth cookie cross-origin only with withCredentials', async () => {
    // This hub refuses anonymous subscribers.
    const closed = await startHub(await freePort(), ['--deny-anonymous'])
    const port = Number(new URL(closed.url).port)
    try {
      const token = await mintToken({ secret: SECRET, subscribe: ['news'], publish: ['news'] })
      const page = await openPage()
      // The hub is on another port: another origin, but the same site, so the cookie goes
      // wherever the credentials mode lets it.
      await page
        .context()
        .addCookies([{ name: 'heraldAuthorization', value: token, domain: '127.0.0.1', path: '/' }])
      await page.evaluate((url) => {
        const g = window as unknown as PageGlobals
        const anonymous = new g.herald.EventSource(url, { maxAttempts: 1 })
        anonymous.onerror = (event) =>
          g.errors.push(`anonymous:${anonymous.readyState}:${event.error.status}`)
        anonymous.onmessage = (event) => g.got.push(`anonymous:${event.data}`)
        const credentialed = new g.herald.EventSource(url, { withCredentials: true })
        credentialed.onopen = () => g.errors.push('credentialed:open')
        credentialed.onmessage = (event) => g.got.push(`credentialed:${event.data}`)
      }, `http://127.0.0.1:${port}/events?topic=news`)
      await page.waitForFunction(() => {
        const { errors } = window as unknown as PageGlobals
        return errors.includes('credentialed:open') && errors.includes('anonymous:2:401')
      })
      await publish(token, 'with cookie', port)
      await page.waitForFunction(() =>
        (window as unknown as PageGlobals).got.includes('credentialed:with cookie'),
      )
      expect(await page.evaluate(() => (window as unknown as PageGlobals).got)).toEqual([
        'credentialed:with cookie',
      ])
      await page.context().close()
    } finally {
      await closed.stop()
    }
  })

  it('resumes a cookie-authenticated cross-origin stream across a restart with lastEventIdParam', async () => {
    // Cookie auth, anonymous subscribers refused. A reconnection that sent the
    // Last-Event-ID header would need a CORS preflight, which carries no cookie; the query
    // parameter keeps every request simple.
    const port = await freePort()
    let guarded = await startHub(port, ['--deny-anonymous'])
    try {
      const token = await mintToken({ secret: SECRET, subscribe: ['news'], publish: ['news'] })
      const page = await openPage()
      await page
        .context()
        .addCookies([{ name: 'heraldAuthorization', value: token, domain: '127.0.0.1', path: '/' }])
      await page.evaluate((url) => {
        const g = window as unknown as PageGlobals
        const source = new g.herald.EventSource(url, {
          withCredentials: true,
          lastEventIdParam: 'lastEventId',
          backoff: { initialMs: 50, maxMs: 200 },
        })
        source.onopen = () => g.errors.push('open')
        source.onerror = (event) => g.errors.push(event.error.code)
        source.onmessage = (event) => g.got.push(event.data)
      }, `http://127.0.0.1:${port}/events?topic=news`)
      await page.waitForFunction(() => (window as unknown as PageGlobals).errors.includes('open'))
      await publish(token, 'one', port)
      await page.waitForFunction(() => (window as unknown as PageGlobals).got.length === 1)
      // A crash this time, not a drain.
      await guarded.stop('SIGKILL')
      guarded = await startHub(port, ['--deny-anonymous'])
      await publish(token, 'two', port)
      await page.waitForFunction(() => (window as unknown as PageGlobals).got.length >= 2)
      const { got, errors } = await page.evaluate(() => {
        const { got, errors } = window as unknown as PageGlobals
        return { got, errors }
      })
      expect(got).toEqual(['one', 'two'])
      expect(errors.filter((e) => e === 'open')).toHaveLength(2)
      await page.context().close()
    } finally {
      await guarded.stop()
    }
  })
})
