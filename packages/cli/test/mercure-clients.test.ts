/**
 * Black-box: real Mercure clients against the real `herald serve`.
 *
 * - `mercure` (npm, the Node publisher the Mercure spec lists) publishes; `extended-eventsource`
 *   subscribes from Node.
 * - In Debian's Chromium, the fetch-based browser clients `@microsoft/fetch-event-source` and
 *   `extended-eventsource` subscribe CROSS-ORIGIN with an `Authorization` header, the hub
 *   crashes (SIGKILL) and comes back on the same port and SQLite file, an update is published
 *   BEFORE the client reconnects, and each client resumes by itself with `Last-Event-ID` (not
 *   a CORS-safelisted header: the preflight must allow it) and gets every update exactly once,
 *   in order. Without the header the update published before the reconnect would be missed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HubProcess } from '@herald/testkit'
import { freePort, launchChromium, startHubProcess } from '@herald/testkit'
import { EventSource as ExtendedEventSource } from 'extended-eventsource'
import { SignJWT } from 'jose'
import { Publisher } from 'mercure'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const SECRET = 'mercure-clients-secret-0123456789abcdef'
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..')
const MODULES = join(ROOT, 'node_modules')

let dir: string
let port: number
let hub: HubProcess
let page: Server
let origin: string
let browser: Browser
let token: string

function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(SECRET))
}

function startHub(): Promise<HubProcess> {
  return startHubProcess({
    args: [
      '--port',
      String(port),
      '--store',
      `sqlite:${join(dir, 'hub.db')}`,
      '--jwt-secret',
      SECRET,
      '--cors-origin',
      origin,
      '--heartbeat',
      '1',
    ],
  })
}

/** Serves the test page and the clients' ESM files from node_modules (another origin). */
function servePage(): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<!doctype html><title>mercure clients</title>')
      return
    }
    if (!path.startsWith('/m/') || path.includes('..')) {
      res.writeHead(404).end()
      return
    }
    // fetch-event-source's ESM imports omit the extension.
    const file = join(MODULES, path.slice(3))
    for (const candidate of [file, `${file}.js`]) {
      try {
        const body = readFileSync(candidate)
        res.writeHead(200, { 'content-type': 'text/javascript' })
        res.end(body)
        return
      } catch {}
    }
    res.writeHead(404).end()
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

async function publish(topic: string, data: string): Promise<string> {
  const publisher = new Publisher({
    protocol: 'http',
    host: '127.0.0.1',
    port,
    path: '/.well-known/mercure',
    jwt: await jwt({ mercure: { publish: ['*'] } }),
  })
  return (await publisher.publish([topic], data)) as string
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'herald-mercure-clients-'))
  page = await servePage()
  origin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`
  port = await freePort()
  hub = await startHub()
  browser = await launchChromium()
  token = await jwt({ mercure: { subscribe: ['*'] } })
}, 90_000)

afterAll(async () => {
  await browser?.close()
  await hub?.stop()
  await new Promise((resolve) => page?.close(resolve))
  rmSync(dir, { recursive: true, force: true })
})

describe('npm Mercure clients', () => {
  it('the mercure publisher publishes (its answer is the update id) and extended-eventsource receives it in Node', async () => {
    const topic = `https://example.com/node/${Date.now()}`
    const url = new URL('/.well-known/mercure', hub.url)
    url.searchParams.set('topic', 'https://example.com/node/{id}')
    const source = new ExtendedEventSource(url.href, {
      headers: { authorization: `Bearer ${token}` },
    })
    const received = new Promise<MessageEvent>((resolve) => {
      source.onmessage = (event: MessageEvent) => resolve(event)
    })
    await new Promise<void>((resolve) => {
      source.onopen = () => resolve()
    })
    const id = await publish(topic, 'from the mercure package')
    expect(id).toMatch(/^urn:uuid:/)
    const event = await received
    expect(event.data).toBe('from the mercure package')
    expect(event.lastEventId).toBe(id)
    source.close()
  })
})

describe('fetch-based browser clients, cross-origin, resuming after a hub crash', {
  timeout: 120_000,
}, () => {
  const clients = {
    '@microsoft/fetch-event-source': `
      const { fetchEventSource } = await import('/m/@microsoft/fetch-event-source/lib/esm/index.js')
      fetchEventSource(url, {
        headers: { Authorization: 'Bearer ' + token },
        openWhenHidden: true,
        async onopen(response) {
          window.opens.push(response.headers.get('last-event-id'))
          if (!response.ok) throw new Error('status ' + response.status)
        },
        onmessage(event) { window.got.push([event.data, event.id]) },
        onclose() { throw new Error('closed') },
        onerror() { return 20000 },
      })`,
    'extended-eventsource': `
      const { EventSource } = await import('/m/extended-eventsource/dist/index.esm.js')
      const source = new EventSource(url, { headers: { Authorization: 'Bearer ' + token }, retry: 20000 })
      source.onopen = () => window.opens.push('open')
      source.onmessage = (event) => window.got.push([event.data, event.lastEventId])`,
  } as const

  for (const [name, script] of Object.entries(clients)) {
    it(`${name}: every update once, in order, across a hub crash (Last-Event-ID cross-origin)`, async () => {
      const topic = `https://example.com/${name.replace(/\W/g, '-')}/${Date.now()}`
      const tab = await browser.newPage()
      await tab.goto(`${origin}/`)
      const url = `${hub.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}`
      await tab.evaluate(
        `(async () => { window.got = []; window.opens = []; const url = ${JSON.stringify(url)}; const token = ${JSON.stringify(token)}; ${script} })()`,
      )
      await tab.waitForFunction('window.opens.length === 1')
      const ids = [await publish(topic, 'one'), await publish(topic, 'two')]
      await tab.waitForFunction('window.got.length === 2')
      // The hub crashes and comes back on the same port and file; 'three' is published while
      // the client still waits to reconnect (its retry is 20 s, room for a slow restart on a loaded
      // machine), so only a resume delivers it.
      await hub.stop('SIGKILL')
      hub = await startHub()
      ids.push(await publish(topic, 'three'))
      expect(await tab.evaluate('window.opens.length')).toBe(1)
      await tab.waitForFunction('window.opens.length >= 2', undefined, { timeout: 60_000 })
      ids.push(await publish(topic, 'four'))
      await tab.waitForFunction('window.got.length >= 4')
      const got = (await tab.evaluate('window.got')) as [string, string][]
      expect(got).toEqual([
        ['one', ids[0]],
        ['two', ids[1]],
        ['three', ids[2]],
        ['four', ids[3]],
      ])
      if (name === '@microsoft/fetch-event-source') {
        // fetch exposes the answer's headers: the resumed stream says where it resumed from.
        const opens = (await tab.evaluate('window.opens')) as string[]
        expect(opens.at(-1)).toBe(ids[1])
      }
      await tab.close()
    })
  }
})
