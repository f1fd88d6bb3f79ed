/**
 * Every example in examples/ runs with its one command and does what its README says:
 * started as a real process (or, for the Next.js route handler, called the way Next.js calls
 * it: a Fetch Request in, a streaming Response out), driven over real sockets, the browser
 * pages in real Chromium.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createParser } from '@herald/protocol'
import { type HubProcess, launchChromium, openEventStream, startHubProcess } from '@herald/testkit'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fakeModel, GET } from '../../../examples/nextjs-llm/app/api/chat/route.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const children: ChildProcess[] = []
let browser: Browser

/** Runs `node examples/NAME/server.mjs` on a free port; resolves with its URL. */
function startExample(name: string, env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, [`examples/${name}/server.mjs`], {
    cwd: root,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${out}`)), 30_000)
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
    })
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = / on (http:\/\/\S+)/.exec(out)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${out}`)))
  })
}

function stopped(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code))
    child.kill('SIGTERM')
  })
}

beforeAll(async () => {
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await Promise.all(children.map(stopped))
})

describe('examples', () => {
  it('stock-ticker: prices stream to the page, one row per symbol', async () => {
    const url = await startExample('stock-ticker')
    const stream = await openEventStream(`${url}/events?topic=prices/*`)
    const events = await stream.until(
      (e) => new Set(e.map((x) => JSON.parse(x.data).symbol)).size === 6,
    )
    stream.close()
    expect(events.every((e) => e.type === 'price')).toBe(true)
    const page = await browser.newPage()
    await page.goto(url)
    await page.locator('#status', { hasText: 'live' }).waitFor()
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 6)
    expect(await page.locator('#rows tr[data-symbol="ACME"] td').nth(1).textContent()).toMatch(
      /^\d+\.\d\d$/,
    )
    await page.close()
  })

  it('notifications: the cookie grants one user its own private topic, nobody else', async () => {
    const url = await startExample('notifications')
    const login = await fetch(`${url}/login?user=alice`, { redirect: 'manual' })
    expect(login.status).toBe(303)
    const cookies = login.headers.getSetCookie()
    const auth = cookies.find((c) => c.startsWith('heraldAuthorization='))
    expect(auth).toMatch(/HttpOnly; SameSite=Strict/)
    const cookie = (auth as string).split(';')[0] as string
    const alice = await openEventStream(`${url}/events?topic=users/alice&topic=broadcast`, {
      cookie,
    })
    expect(alice.status).toBe(200)
    await fetch(`${url}/notify?user=alice&text=for-alice`, { method: 'POST' })
    await fetch(`${url}/notify?user=bob&text=for-bob`, { method: 'POST' })
    await alice.until((e) => e.some((x) => x.data.includes('for-alice')))
    expect(alice.events.some((x) => x.data.includes('for-bob'))).toBe(false)
    alice.close()
    // Her cookie does not open bob's topic, nor a pattern over every user; no cookie: 401.
    expect((await openEventStream(`${url}/events?topic=users/bob`, { cookie })).status).toBe(403)
    expect((await openEventStream(`${url}/events?topic=users/*`, { cookie })).status).toBe(403)
    expect((await openEventStream(`${url}/events?topic=broadcast`)).status).toBe(401)
    // The page, signed in through the form links, shows alice's feed.
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${url}/login?user=alice`)
    await page.locator('#status', { hasText: 'signed in as alice' }).waitFor()
    await page.locator('#feed li', { hasText: 'Hello alice' }).first().waitFor({ timeout: 10_000 })
    expect(await page.locator('#feed li', { hasText: 'Hello bob' }).count()).toBe(0)
    await context.close()
  })

  it('job-progress: 0..100 % then done, and a late page replays the whole job', async () => {
    const url = await startExample('job-progress', { STEP_MS: '20' })
    const { id } = (await (await fetch(`${url}/jobs`, { method: 'POST' })).json()) as { id: string }
    const stream = await openEventStream(`${url}/events?topic=jobs/${id}&lastEventId=earliest`)
    const events = await stream.until((e) => e.some((x) => x.type === 'done'))
    stream.close()
    const percents = events
      .filter((e) => e.type === 'progress')
      .map((e) => JSON.parse(e.data).percent)
    expect(percents).toEqual(Array.from({ length: 21 }, (_, i) => i * 5))
    const page = await browser.newPage()
    await page.goto(`${url}/?job=${id}`)
    await page.locator('#status', { hasText: 'Done: report-' }).waitFor()
    expect(await page.locator('#bar').getAttribute('value')).toBe('100')
    await page.close()
  })

  describe('curl-publisher', () => {
    let hub: HubProcess
    beforeAll(async () => {
      hub = await startHubProcess()
    })
    afterAll(async () => {
      await hub?.stop()
    })

    it('publishes with curl; a refused publish makes the script fail', async () => {
      const stream = await openEventStream(`${hub.url}/events?topic=builds/*`)
      const run = (env: Record<string, string>) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn('sh', ['examples/curl-publisher/publish.sh', '3'], {
            cwd: root,
            env: { ...process.env, PUBLISH_INTERVAL: '0', ...env },
          })
          let out = ''
          child.stdout.on('data', (c: Buffer) => (out += c))
          child.stderr.on('data', (c: Buffer) => (out += c))
          child.on('close', (code) => resolve({ code, out }))
        })
      const ok = await run({ HERALD_URL: hub.url })
      expect(ok.code, ok.out).toBe(0)
      expect(ok.out).toMatch(/published step 3: \{"id":"\d+"/)
      const events = await stream.count(3)
      stream.close()
      expect(events.map((e) => JSON.parse(e.data).step)).toEqual([1, 2, 3])
      const refused = await run({ HERALD_URL: `${hub.url}/nowhere` })
      expect(refused.code).not.toBe(0)
      expect(refused.out).toContain('HERALD_NOT_FOUND')
    })
  })

  it('nextjs-llm: the route handler streams tokens, then resumes after Last-Event-ID', async () => {
    process.env.TOKEN_MS = '1'
    const read = async (headers: Record<string, string> = {}) => {
      const response = GET(
        new Request('http://localhost/api/chat?prompt=hi', {
          headers: { accept: 'text/event-stream', ...headers },
        }),
      )
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
      const events: Array<{ type: string; data: string; lastEventId: string }> = []
      const parser = createParser({ onEvent: (e) => events.push(e) })
      const reader = (response.body as ReadableStream<Uint8Array>).getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        parser.feed(value)
      }
      return events
    }
    const tokens = fakeModel('hi')
    const all = await read()
    expect(all.at(-1)?.type).toBe('done')
    expect(
      all
        .filter((e) => e.type === 'token')
        .map((e) => e.data)
        .join(''),
    ).toBe(tokens.join(''))
    const resumed = await read({ 'last-event-id': '3' })
    expect(resumed[0]?.lastEventId).toBe('4')
    expect(resumed.filter((e) => e.type === 'token')).toHaveLength(tokens.length - 4)
  })
})
