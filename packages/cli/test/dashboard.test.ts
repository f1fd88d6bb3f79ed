/**
 * The dashboard in real Chromium against the REAL `herald serve` (auth on, an admin token):
 * the page loads with its favicon and no console error, the connection count matches the
 * subscribers this test opened, the clients table pages and searches on the hub, an event
 * published from the playground shows in the tail, the admin gate holds (page, API and
 * /metrics), the page works from the keyboard and at phone width. Screenshots land in
 * test-artifacts/ (dark, light, phone).
 */
import { mkdirSync } from 'node:fs'
import { request } from 'node:http'
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

/** Opens one subscriber and resolves once the hub answered 200. */
function subscribe(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${hub.url}${path}`,
      { headers: { accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`subscribe ${path}: ${res.statusCode}`))
        else resolve()
        res.resume()
      },
    )
    req.on('error', () => {})
    req.end()
    streams.push(req)
  })
}

async function publish(topic: string, data: unknown, token: string): Promise<void> {
  const response = await fetch(`${hub.url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ topic, data }),
  })
  if (!response.ok) throw new Error(`publish: ${response.status}`)
}

async function openPage(
  options: { token?: string; width?: number; scheme?: 'dark' | 'light' } = {},
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
  await page.goto(`${hub.url}/${hash}`)
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
