/**
 * The dashboard in real Chromium against the REAL `herald serve` (auth on, an admin token):
 * the page loads with its favicon and no console error, the connection count matches the
 * subscribers this test opened, the clients table pages and searches on the hub, an event
 * published from the playground shows in the tail, the admin gate holds (page, API and
 * /metrics), the page works from the keyboard and at phone width. Screenshots land in
 * test-artifacts/ (dark, light, phone).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mintToken } from '@herald/hub'
import { type HubProcess, launchChromium, startHubProcess } from '@herald/testkit'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const SECRET = 'dashboard-test-secret-0123456789'
const ADMIN_TOKEN = 'dashboard-admin-token-0123456789'
const SUBSCRIBERS = 12
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url))

let hub: HubProcess
let browser: Browser
const streams: Array<{ destroy(): void }> = []
let publishing: ReturnType<typeof setInterval> | undefined

/** Opens one subscriber; resolves with its local port once the hub answered 200. */
function subscribe(path: string, base = hub.url): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`subscribe ${path}: ${res.statusCode}`))
      else resolve(res.socket.localPort as number)
      res.resume()
    })
    req.on('error', () => {})
    req.end()
    streams.push(req)
  })
}

async function publish(topic: string, data: unknown, token: string, base = hub.url): Promise<void> {
  const response = await fetch(`${base}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ topic, data }),
  })
  if (!response.ok) throw new Error(`publish: ${response.status}`)
}

async function openPage(
  options: { token?: string; width?: number; scheme?: 'dark' | 'light'; base?: string } = {},
): Promise<{
  page: Page
  errors: string[]
  failed: string[]
}> {
  const page = await browser.newPage({
    viewport: { width: options.width ?? 1440, height: 1000 },
    colorScheme: options.scheme ?? 'dark',
  })
  const errors: string[] = []
  const failed: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  page.on('response', (response) => {
    if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`)
  })
  const hash =
    options.token === undefined ? '' : `#admin-token=${encodeURIComponent(options.token)}`
  await page.goto(`${options.base ?? hub.url}/${hash}`)
  return { page, errors, failed }
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  hub = await startHubProcess({ args: ['--jwt-secret', SECRET, '--admin-token', ADMIN_TOKEN] })
  browser = await launchChromium()
  const topics = ['orders/eu', 'orders/us', 'prices/ACME', 'prices/**', 'chat/general', 'user/42']
  await Promise.all(
    Array.from({ length: SUBSCRIBERS }, (_, i) =>
      subscribe(`/events?topic=${encodeURIComponent(topics[i % topics.length] as string)}`),
    ),
  )
  // Some traffic, so the charts and rankings have something to show.
  const publisher = await mintToken({ secret: SECRET, publish: ['*'] })
  let n = 0
  publishing = setInterval(() => {
    n++
    void publish(
      n % 3 === 0 ? 'orders/eu' : 'prices/ACME',
      { n, price: 100 + (n % 17) },
      publisher,
    ).catch(() => {})
  }, 40)
}, 60_000)

afterAll(async () => {
  if (publishing !== undefined) clearInterval(publishing)
  for (const stream of streams) stream.destroy()
  await browser?.close()
  await hub?.stop()
})

describe('dashboard', () => {
  it('serves the page, its assets and a favicon; / stays JSON for scripts', async () => {
    const html = await fetch(`${hub.url}/`, { headers: { accept: 'text/html' } })
    expect(html.status).toBe(200)
    expect(html.headers.get('content-type')).toMatch(/^text\/html/)
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'")
    const json = await fetch(`${hub.url}/`)
    expect(json.headers.get('content-type')).toMatch(/^application\/json/)
    const icon = await fetch(`${hub.url}/favicon.ico`)
    expect(icon.status).toBe(200)
    expect(icon.headers.get('content-type')).toBe('image/svg+xml')
    const script = /src="\.\/(dashboard\/[^"]+\.js)"/.exec(await html.text())?.[1]
    expect(script).toBeDefined()
    const js = await fetch(`${hub.url}/${script}`)
    expect(js.status).toBe(200)
    expect(js.headers.get('cache-control')).toContain('immutable')
  })

  it('gates the private views: clients, publish, tail and /metrics need the admin grant', async () => {
    const subscriber = await mintToken({ secret: SECRET, subscribe: ['*'] })
    const admin = await mintToken({ secret: SECRET, admin: true })
    const get = (path: string, token?: string) =>
      fetch(`${hub.url}${path}`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      })
    for (const path of ['/metrics', '/dashboard/api/clients', '/dashboard/api/tail?topic=**']) {
      const anonymous = await get(path)
      expect(anonymous.status, path).toBe(401)
      expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe(
        'HERALD_UNAUTHORIZED',
      )
      expect((await get(path, subscriber)).status, path).toBe(403)
      expect((await get(path, 'not-the-admin-token')).status, path).toBe(401)
    }
    const metrics = await get('/metrics', ADMIN_TOKEN)
    expect(metrics.status).toBe(200)
    expect(await metrics.text()).toContain('herald_connections')
    expect((await get('/metrics', admin)).status).toBe(200)
    const clients = await get('/dashboard/api/clients?limit=5', admin)
    expect(clients.status).toBe(200)
    const refused = await fetch(`${hub.url}/dashboard/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${subscriber}` },
      body: JSON.stringify({ topic: 'demo/x', data: 1 }),
    })
    expect(refused.status).toBe(403)
    // The read-only stats stream carries aggregate numbers only: no topic names.
    const controller = new AbortController()
    const stats = await fetch(`${hub.url}/dashboard/api/stats`, { signal: controller.signal })
    expect(stats.status).toBe(200)
    const reader = (stats.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    while (!text.includes('event: sample')) {
      const { value } = await reader.read()
      text += new TextDecoder().decode(value)
    }
    controller.abort()
    expect(text).toContain('"admin":false')
    expect(text).not.toContain('orders/')
    expect(text).not.toContain('prices/')
    expect(text).not.toContain('127.0.0.1')
    expect(text).not.toContain(`:${hub.child.pid}`)
  })

  it('without a token: a read-only view that shows nothing private', async () => {
    const { page, errors } = await openPage()
    await page.locator('#access[data-state="read-only"]').waitFor()
    await page.waitForFunction(
      (n) => document.getElementById('k-connections')?.dataset.value === String(n),
      SUBSCRIBERS,
    )
    expect(await page.locator('#notice').isVisible()).toBe(true)
    for (const id of ['#clients', '#publish', '#tail', '#t-subs']) {
      expect(await page.locator(id).isVisible(), id).toBe(false)
    }
    expect(await page.content()).not.toContain('orders/eu')
    await page.screenshot({ path: `${ARTIFACTS}dashboard-read-only.png` })
    expect(errors).toEqual([])
    await page.close()
  })

  it('as admin: counts the subscribers, lists and searches them, tails a playground publish', {
    timeout: 90_000,
  }, async () => {
    const { page, errors, failed } = await openPage({ token: ADMIN_TOKEN })
    await page.locator('#access[data-state="admin"]').waitFor()
    // The token left the address bar.
    expect(page.url()).not.toContain(ADMIN_TOKEN)
    await page.waitForFunction(
      (n) => document.getElementById('k-connections')?.dataset.value === String(n),
      SUBSCRIBERS,
    )
    await page
      .locator('#clients tr')
      .nth(SUBSCRIBERS - 1)
      .waitFor()
    expect(await page.locator('#clients tr').count()).toBe(SUBSCRIBERS)
    expect(await page.locator('#clients-count').textContent()).toBe(`(${SUBSCRIBERS})`)
    // Rankings name the topics, busiest first.
    await page.locator('#t-rate tr td', { hasText: 'prices/ACME' }).first().waitFor()
    await page.locator('#t-subs tr td', { hasText: 'orders/eu' }).first().waitFor()

    await page.fill('#clients-q', 'prices/')
    await page.waitForFunction(() => document.querySelectorAll('#clients tr').length === 4)
    expect(await page.locator('#clients-count').textContent()).toBe(`(4 of ${SUBSCRIBERS})`)
    await page.fill('#clients-q', '')

    await page.fill('#tail-form input[name=pattern]', 'demo/**')
    await page.click('#tail-toggle')
    await page.locator('#tail-status', { hasText: 'waiting for events' }).waitFor()
    await page.fill('#publish input[name=topic]', 'demo/playground')
    await page.fill('#publish textarea[name=data]', '{"from":"the playground"}')
    await page.click('#publish button[type=submit]')
    await page.locator('#publish-result', { hasText: 'published as' }).waitFor()
    const row = page.locator('#tail li', { hasText: 'demo/playground' })
    await row.waitFor()
    expect(await row.textContent()).toContain('{"from":"the playground"}')
    // The tail is not a subscriber of the hub's event streams: the count is unchanged.
    await page.waitForTimeout(1200)
    expect(await page.locator('#k-connections').getAttribute('data-value')).toBe(
      String(SUBSCRIBERS),
    )

    await page.waitForTimeout(2500)
    await page.setViewportSize({
      width: 1440,
      height: await page.evaluate(() => document.documentElement.scrollHeight),
    })
    await page.screenshot({ path: `${ARTIFACTS}dashboard-dark.png` })
    expect(errors).toEqual([])
    expect(failed).toEqual([])
    await page.close()
  })

  it('refuses a wrong token, and falls back to read-only', async () => {
    const { page } = await openPage({ token: 'wrong-token-wrong-token' })
    await page.locator('#access[data-state="read-only"]').waitFor()
    expect(await page.locator('#notice').textContent()).toMatch(/refused|Read-only/)
    await page.close()
  })

  it('works from the keyboard, in light mode and at phone width', { timeout: 90_000 }, async () => {
    const { page, errors } = await openPage({ token: ADMIN_TOKEN, scheme: 'light', width: 390 })
    await page.locator('#access[data-state="admin"]').waitFor()
    const reached = new Set<string>()
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab')
      reached.add(
        await page.evaluate(
          () => document.activeElement?.id || document.activeElement?.getAttribute('name') || '',
        ),
      )
    }
    for (const id of ['theme', 'clients-q', 'topic', 'data', 'pattern', 'tail-toggle']) {
      expect(reached, id).toContain(id)
    }
    // Nothing overflows the phone's width.
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    )
    expect(overflow).toBeLessThanOrEqual(0)
    await page.waitForTimeout(1500)
    await page.screenshot({ path: `${ARTIFACTS}dashboard-phone-light.png`, fullPage: true })
    await page.setViewportSize({ width: 1440, height: 1000 })
    await page.evaluate(() => {
      ;(document.activeElement as HTMLElement | null)?.blur()
      window.scrollTo(0, 0)
    })
    await page.waitForTimeout(500)
    await page.screenshot({ path: `${ARTIFACTS}dashboard-light.png` })
    expect(errors).toEqual([])
    await page.close()
  })
})

/**
 * Which process holds each of these client connections to `port`, as the kernel says
 * (`ss -tnp`), by client port: the ground truth the per-worker figures are checked against.
 */
function holders(port: number, clientPorts: readonly number[]): Map<number, number> {
  const wanted = new Set(clientPorts)
  const byPort = new Map<number, number>()
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`], {
    encoding: 'utf8',
  })
  for (const line of out.split('\n')) {
    const peer = /\s\S+:(\d+)\s+users:/.exec(line)?.[1]
    if (peer === undefined || !wanted.has(Number(peer))) continue
    const pids = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]))
    // Handed over by the primary just now: held by two processes for a moment.
    if (pids.length !== 1) continue
    byPort.set(Number(peer), pids[0] as number)
  }
  return byPort
}

/** How many of `ports` each pid holds. */
function perPid(
  byPort: ReadonlyMap<number, number>,
  ports?: readonly number[],
): Map<number, number> {
  const counts = new Map<number, number>()
  for (const port of ports ?? byPort.keys()) {
    const pid = byPort.get(port)
    if (pid !== undefined) counts.set(pid, (counts.get(pid) ?? 0) + 1)
  }
  return counts
}

describe('dashboard with --workers 2', () => {
  const WORKER_SUBSCRIBERS = 10
  const dir = mkdtempSync(join(tmpdir(), 'herald-dashboard-workers-'))
  const opened: Array<{ destroy(): void }> = []
  let cluster: HubProcess
  let ports: number[] = []
  const topics = ['orders/eu', 'prices/ACME', 'chat/general', 'prices/**', 'user/7']
  /** Which worker pid holds each subscriber, by its client port, from the kernel. */
  let held = new Map<number, number>()
  let traffic: ReturnType<typeof setInterval> | undefined
  /** Subscribers per worker pid, from the kernel. */
  let truth = new Map<number, number>()

  beforeAll(async () => {
    cluster = await startHubProcess({
      args: [
        '--workers',
        '2',
        '--store',
        `sqlite:${join(dir, 'herald.db')}`,
        '--jwt-secret',
        SECRET,
        '--admin-token',
        ADMIN_TOKEN,
      ],
      timeoutMs: 60_000,
    })
    const before = streams.length
    ports = await Promise.all(
      Array.from({ length: WORKER_SUBSCRIBERS }, (_, i) =>
        subscribe(
          `/events?topic=${encodeURIComponent(topics[i % topics.length] as string)}`,
          cluster.url,
        ),
      ),
    )
    opened.push(...streams.splice(before))
    const port = Number(new URL(cluster.url).port)
    // The primary hands each connection to a worker: wait until each is held by one.
    const deadline = Date.now() + 20_000
    do {
      held = holders(port, ports)
      if (held.size === WORKER_SUBSCRIBERS) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    } while (Date.now() < deadline)
    truth = perPid(held)
    const publisher = await mintToken({ secret: SECRET, publish: ['*'] })
    let n = 0
    traffic = setInterval(() => {
      n++
      void publish(n % 2 === 0 ? 'orders/eu' : 'prices/ACME', { n }, publisher, cluster.url).catch(
        () => {},
      )
    }, 50)
  }, 90_000)

  afterAll(async () => {
    if (traffic !== undefined) clearInterval(traffic)
    for (const stream of opened) stream.destroy()
    await cluster?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the workers start without warnings about their own environment', () => {
    expect(cluster.stderr()).not.toContain('unknown environment variable')
  })

  it('the subscribers are spread over both workers (the premise of this suite)', () => {
    expect([...truth.values()].reduce((a, b) => a + b, 0)).toBe(WORKER_SUBSCRIBERS)
    expect(truth.size).toBe(2)
    for (const n of truth.values()) expect(n).toBeGreaterThan(0)
  })

  it('every worker answers for the whole hub: stats stream and clients table', {
    timeout: 60_000,
  }, async () => {
    const pids = new Set<number>()
    // Successive connections go to successive workers: read the stats from several.
    for (let i = 0; i < 4; i++) {
      const controller = new AbortController()
      const response = await fetch(`${cluster.url}/dashboard/api/stats`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, connection: 'close' },
        signal: controller.signal,
      })
      const reader = (response.body as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let text = ''
      let node = ''
      let total = -1
      let perNode = new Map<string, number>()
      while (total !== WORKER_SUBSCRIBERS || perNode.size !== 2) {
        const { value, done } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
        for (const block of text.split('\n\n').slice(0, -1)) {
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (data === undefined) continue
          if (block.startsWith('event: snapshot'))
            node = (JSON.parse(data) as { node: string }).node
          if (!block.startsWith('event: sample')) continue
          const sample = JSON.parse(data) as {
            nodes: Array<{ node: string; connections: number }>
            total: { connections: number }
          }
          total = sample.total.connections
          perNode = new Map(sample.nodes.map((n) => [n.node, n.connections]))
        }
        text = text.slice(text.lastIndexOf('\n\n') + 2)
      }
      controller.abort()
      pids.add(Number(node.split(':').at(-1)))
      expect(total).toBe(WORKER_SUBSCRIBERS)
      // Each worker's own figure is its share, as the kernel counts it.
      for (const [name, n] of perNode)
        expect(n, name).toBe(truth.get(Number(name.split(':').at(-1))))
    }
    // The stats streams landed on both workers, and each told the same story.
    expect([...pids].sort()).toEqual([...truth.keys()].sort())

    // The clients table spans both workers: paged (3 a page) and searched, from any of them.
    const get = async (query: string) => {
      const response = await fetch(`${cluster.url}/dashboard/api/clients?${query}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, connection: 'close' },
      })
      expect(response.status).toBe(200)
      return (await response.json()) as {
        total: number
        matched: number
        clients: Array<{ id: string; node: string; topics: string[] }>
        nodes: Array<{ node: string; total: number; matched: number }>
      }
    }
    const seen: string[] = []
    for (let offset = 0; offset < WORKER_SUBSCRIBERS + 3; offset += 3) {
      const page = await get(`limit=3&offset=${offset}`)
      expect(page.total).toBe(WORKER_SUBSCRIBERS)
      expect(page.clients.length).toBe(Math.max(0, Math.min(3, WORKER_SUBSCRIBERS - offset)))
      for (const node of page.nodes) {
        expect(node.total, node.node).toBe(truth.get(Number(node.node.split(':').at(-1))))
      }
      seen.push(...page.clients.map((c) => `${c.node}/${c.id}`))
    }
    expect(new Set(seen).size).toBe(WORKER_SUBSCRIBERS)
    const prices = await get('q=prices/&limit=50')
    expect(prices.matched).toBe(4)
    expect(prices.clients.every((c) => c.topics.some((t) => t.startsWith('prices/')))).toBe(true)
    // Each worker's matches are the price subscribers it holds.
    const pricePorts = ports.filter((_, i) =>
      (topics[i % topics.length] as string).startsWith('prices/'),
    )
    const expectedMatches = perPid(held, pricePorts)
    for (const node of prices.nodes) {
      expect(node.matched, node.node).toBe(
        expectedMatches.get(Number(node.node.split(':').at(-1))) ?? 0,
      )
    }
  })

  it("the page shows the totals and each worker's figures (Chromium)", {
    timeout: 90_000,
  }, async () => {
    const { page, errors, failed } = await openPage({ token: ADMIN_TOKEN, base: cluster.url })
    await page.locator('#access[data-state="admin"]').waitFor()
    await page.waitForFunction(
      (n) => document.getElementById('k-connections')?.dataset.value === String(n),
      WORKER_SUBSCRIBERS,
    )
    // One row per worker (its connections as the kernel counts them), then the total.
    const expected = Object.fromEntries([...truth].map(([pid, n]) => [String(pid), n])) as Record<
      string,
      number
    >
    await page.waitForFunction((want) => {
      const rows = [...document.querySelectorAll('#t-nodes tr:not(.total)')]
      if (rows.length !== Object.keys(want).length) return false
      return rows.every((row) => {
        const pid = (row.firstElementChild?.textContent ?? '').split(':').at(-1) ?? ''
        return (row.children[1] as HTMLElement | undefined)?.dataset.value === String(want[pid])
      })
    }, expected)
    expect(await page.locator('#t-nodes tr.total td').first().getAttribute('data-value')).toBe(
      String(WORKER_SUBSCRIBERS),
    )
    expect(await page.locator('#nodes-title').textContent()).toBe('Workers (2)')
    // The clients table lists both workers' subscribers, with the worker of each.
    await page
      .locator('#clients tr')
      .nth(WORKER_SUBSCRIBERS - 1)
      .waitFor()
    expect(await page.locator('#clients tr').count()).toBe(WORKER_SUBSCRIBERS)
    expect(await page.locator('#clients-count').textContent()).toBe(`(${WORKER_SUBSCRIBERS})`)
    for (const [pid, n] of truth) {
      expect(await page.locator('#clients-nodes').textContent()).toContain(`pid ${pid}: ${n}`)
    }
    await page.fill('#clients-q', 'prices/')
    await page.waitForFunction(() => document.querySelectorAll('#clients tr').length === 4)
    await page.fill('#clients-q', '')
    await page.locator('#clients-q').blur()
    // Both workers' lines in the connections chart, beside the total.
    for (const pid of truth.keys()) {
      await page.locator('#c-connections .u-legend', { hasText: `pid ${pid}` }).waitFor()
    }
    await page.locator('#t-rate tr td', { hasText: 'prices/ACME' }).first().waitFor()
    await page.waitForTimeout(2500)
    await page.setViewportSize({
      width: 1440,
      height: await page.evaluate(() => document.documentElement.scrollHeight),
    })
    await page.screenshot({ path: `${ARTIFACTS}dashboard-workers-dark.png` })
    expect(errors).toEqual([])
    expect(failed).toEqual([])
    await page.close()
  })
})
