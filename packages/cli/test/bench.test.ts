/**
 * Black-box: `herald bench` as a process, against its own hub (a real `herald serve`) and
 * against a deliberately lossy server: the JSON contract, exit 0 on a clean run, exit 1 on
 * loss and on a missed SLO, exit 2 on usage errors, and the HTML report rendered in Chromium.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { launchChromium, runHerald } from '@herald/testkit'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-bench-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const LOSSY = fileURLToPath(new URL('./fixtures/lossy-hub.mjs', import.meta.url))

const run = (args: string[]) => runHerald(['bench', ...args])

function lastJson(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').at(-1) ?? ''
  return JSON.parse(line) as Record<string, unknown>
}

function startLossy(
  dropEvery: number,
  closeEveryMs = 0,
): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOSSY], {
      env: {
        ...process.env,
        HERALD_PORT: '0',
        LOSSY_DROP_EVERY: String(dropEvery),
        LOSSY_CLOSE_EVERY_MS: String(closeEveryMs),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      const m = /listening on (\S+)/.exec(c)
      if (m) resolve({ url: m[1] as string, child })
    })
    child.on('exit', () => reject(new Error('lossy server exited')))
  })
}

const FIELDS = [
  'deliveriesPerSec',
  'p50Ms',
  'p95Ms',
  'p99Ms',
  'maxMs',
  'lost',
  'duplicated',
  'outOfOrder',
  'reconnects',
  'subscribers',
]

describe('herald bench', () => {
  it('measures its own hub: every field of the contract, no loss, SLOs held, exit 0; the report renders', {
    timeout: 120_000,
  }, async () => {
    const report = join(dir, 'bench.html')
    const { code, stdout, stderr } = await run([
      '--subscribers',
      '300',
      '--per-process',
      '120',
      '--rate',
      '40',
      '--duration',
      '3',
      '--json',
      '--slo',
      'loss=0,p99<60s,reconnect>=99.9%',
      '--report',
      report,
    ])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const r = lastJson(stdout)
    for (const f of FIELDS) expect(typeof r[f], f).toBe('number')
    expect(r.subscribers).toBe(300)
    expect(r.connected).toBe(300)
    expect(r.subscriberProcesses).toBe(3)
    expect(r.lost).toBe(0)
    expect(r.duplicated).toBe(0)
    expect(r.outOfOrder).toBe(0)
    expect(r.published as number).toBeGreaterThan(80)
    expect(r.delivered).toBe((r.published as number) * 300)
    expect(r.p50Ms as number).toBeGreaterThan(0)
    expect(r.p99Ms as number).toBeGreaterThanOrEqual(r.p50Ms as number)
    expect(r.maxMs as number).toBeGreaterThanOrEqual(r.p99Ms as number)
    expect(r.serverRssMb as number).toBeGreaterThan(10)
    expect((r.slo as Array<{ ok: boolean }>).map((s) => s.ok)).toEqual([true, true, true])
    expect(r.ok).toBe(true)

    // The report is self-contained (no external script or stylesheet) and draws its charts.
    const html = readFileSync(report, 'utf8')
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/)
    expect(html).toContain('uPlot')
    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      await page.route('**', (route) =>
        route.request().url().startsWith('file:') ? route.continue() : route.abort(),
      )
      await page.goto(`file://${report}`)
      await page.waitForSelector('.uplot canvas')
      expect(await page.locator('.uplot').count()).toBe(5)
      expect(await page.locator('.badge.ok').textContent()).toBe('PASS')
      expect(errors).toEqual([])
    } finally {
      await browser.close()
    }
  })

  it('exits 1 when an SLO is missed, and says which', { timeout: 120_000 }, async () => {
    const { code, stdout } = await run([
      '--subscribers',
      '20',
      '--rate',
      '20',
      '--duration',
      '1.5',
      '--json',
      '--slo',
      'p99<0.001ms',
    ])
    expect(code).toBe(1)
    const r = lastJson(stdout)
    expect(r.lost).toBe(0)
    expect(r.slo).toEqual([{ slo: 'p99<0.001ms', actual: r.p99Ms, ok: false }])
    expect(r.ok).toBe(false)
  })

  it('finds the loss of a server that drops events, per subscriber, and exits 1', {
    timeout: 120_000,
  }, async () => {
    const lossy = await startLossy(7)
    try {
      const { code, stdout } = await run([
        '--url',
        `${lossy.url}/events?topic=t`,
        '--publish-url',
        `${lossy.url}/publish`,
        '--subscribers',
        '50',
        '--rate',
        '50',
        '--duration',
        '2',
        '--json',
        '--pid',
        String(lossy.child.pid),
      ])
      expect(code).toBe(1)
      const r = lastJson(stdout)
      const published = r.published as number
      // Every 7th event never reaches anyone: 50 subscribers each miss floor(published/7).
      expect(r.lost).toBe(Math.floor(published / 7) * 50)
      expect(r.lossySubscribers).toBe(50)
      expect(r.duplicated).toBe(0)
      expect(r.serverRssMb as number).toBeGreaterThan(10)
      expect(String((r.failures as string[])[0])).toMatch(/events lost/)
    } finally {
      lossy.child.kill()
    }
  })

  it('reconnects dropped streams and counts them; a server that cannot replay loses events', {
    timeout: 120_000,
  }, async () => {
    const lossy = await startLossy(0, 700)
    try {
      const { code, stdout } = await run([
        '--url',
        `${lossy.url}/events?topic=t`,
        '--publish-url',
        `${lossy.url}/publish`,
        '--subscribers',
        '30',
        '--rate',
        '50',
        '--duration',
        '2.5',
        '--json',
      ])
      expect(code).toBe(1)
      const r = lastJson(stdout)
      // Every stream was ended at least twice and came back each time.
      expect(r.reconnects as number).toBeGreaterThanOrEqual(60)
      expect(r.reconnectAttempts).toBe(r.reconnects)
      expect(r.reconnectSuccessRate).toBe(100)
      // Events published while a subscriber was away are gone: this server does not replay.
      expect(r.lost as number).toBeGreaterThan(0)
    } finally {
      lossy.child.kill()
    }
  })

  it('exits 2 on usage errors, naming the flag', { timeout: 120_000 }, async () => {
    for (const [args, pattern] of [
      [['--subscribers', '0'], /--subscribers must be an integer >= 1/],
      [['--slo', 'p99<<3'], /--slo: cannot read/],
      [['--slo', 'reconnect>=99'], /reconnect success rate is a %/],
      [['--url', 'http://127.0.0.1:1/events?topic=a'], /--url and --publish-url go together/],
      [['--rate', 'fast'], /--rate must be a number/],
      [['--report', 'out.txt'], /--report names an .html file/],
      [['--nope'], /Unknown option/],
    ] as Array<[string[], RegExp]>) {
      const { code, stderr } = await run(args)
      expect(code, args.join(' ')).toBe(2)
      expect(stderr).toMatch(pattern)
    }
  })
})
