/**
 * Black-box: `herald chaos` as a process. The CI soak: SQLite, every fault that applies
 * (connections cut, latency, bandwidth, stall, half-close, hub SIGKILL + restart), nothing
 * lost, exit 0. And the proof that it can fail: against a hub that cannot replay, the same
 * faults end in loss and exit 1.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runHerald } from '@herald/testkit'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-chaos-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const LOSSY = fileURLToPath(new URL('./fixtures/lossy-hub.mjs', import.meta.url))

const run = (args: string[]) => runHerald(['chaos', ...args])

interface Fault {
  kind: string
  detail: string
  recoveryMs: number | null
}

function lastJson(stdout: string, stderr = ''): Record<string, unknown> {
  const last = stdout.trim().split('\n').at(-1) ?? ''
  expect(last.startsWith('{'), `no JSON result; stderr:\n${stderr}`).toBe(true)
  return JSON.parse(last) as Record<string, unknown>
}

describe('herald chaos', () => {
  it('SQLite soak: every fault injected, every subscriber got the exact sequence, exit 0', {
    timeout: 120_000,
  }, async () => {
    const report = join(dir, 'chaos.html')
    const { code, stdout, stderr } = await run([
      '--duration',
      '30',
      '--subscribers',
      '24',
      '--json',
      '--report',
      report,
    ])
    const r = lastJson(stdout, stderr)
    expect(r.failures, stderr).toEqual([])
    expect(code).toBe(0)
    for (const f of [
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
    ])
      expect(typeof r[f], f).toBe('number')
    expect(r).toMatchObject({
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      subscribers: 24,
      ackedMissingFromLog: 0,
      ok: true,
    })
    const faults = r.faults as Fault[]
    expect(faults.map((f) => f.kind)).toEqual([
      'cut',
      'latency',
      'bandwidth',
      'stall',
      'half-close',
      'hub-kill',
    ])
    // Each fault really happened and everybody came back after it.
    expect(faults.find((f) => f.kind === 'cut')?.detail).toMatch(
      /reset [1-9]\d* of the proxied connections/,
    )
    expect(faults.find((f) => f.kind === 'hub-kill')?.detail).toMatch(/SIGKILL pid \d+, restarted/)
    for (const f of faults) expect(f.recoveryMs, f.kind).not.toBeNull()
    // Clients really reconnected (cut, stall, half-close, kill) and the log holds every event.
    expect(r.reconnects as number).toBeGreaterThanOrEqual(24)
    expect(r.logEvents as number).toBeGreaterThanOrEqual(r.published as number)
    expect((r.memory as { ok: boolean }).ok).toBe(true)
    expect(readFileSync(report, 'utf8')).toContain('Faults injected')
  })

  it('--workers 2: a worker SIGKILLed, then the whole hub; nothing lost, exit 0', {
    timeout: 150_000,
  }, async () => {
    const { code, stdout, stderr } = await run([
      '--workers',
      '2',
      '--faults',
      'cut,worker-kill,hub-kill',
      '--duration',
      '20',
      '--subscribers',
      '16',
      '--json',
    ])
    const r = lastJson(stdout, stderr)
    expect(r.failures, stderr).toEqual([])
    expect(code).toBe(0)
    expect(r).toMatchObject({
      workers: 2,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      ackedMissingFromLog: 0,
    })
    const faults = r.faults as Fault[]
    expect(faults.map((f) => f.kind)).toEqual(['cut', 'worker-kill', 'hub-kill'])
    expect(faults[1]?.detail).toMatch(/SIGKILL worker pid \d+/)
  })

  it('fails with loss against a hub that cannot replay (exit 1)', {
    timeout: 150_000,
  }, async () => {
    const { code, stdout } = await run([
      '--serve-command',
      `${process.execPath} ${LOSSY}`,
      '--faults',
      'cut,hub-kill',
      '--duration',
      '15',
      '--rate',
      '40',
      '--subscribers',
      '12',
      '--json',
    ])
    expect(code).toBe(1)
    const r = lastJson(stdout)
    expect(r.lost as number).toBeGreaterThan(0)
    expect(r.lossySubscribers as number).toBeGreaterThan(0)
    expect(r.ok).toBe(false)
    expect((r.failures as string[]).join('\n')).toMatch(/events lost/)
  })

  it('exits 2 on usage errors', async () => {
    for (const [args, pattern] of [
      [['--duration', '5'], /--duration must be a number >= 15/],
      [['--faults', 'meteor'], /unknown fault "meteor"/],
      [['--nodes', '2'], /needs a shared store/],
      [['--faults', 'worker-kill'], /needs --workers/],
      [['--store', 'mysql://x'], /--store: expected/],
    ] as Array<[string[], RegExp]>) {
      const { code, stderr } = await run(args)
      expect(code, args.join(' ')).toBe(2)
      expect(stderr).toMatch(pattern)
    }
  })
})
