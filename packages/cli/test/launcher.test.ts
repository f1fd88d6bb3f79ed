/**
 * The `herald` executable (packages/cli/bin/herald.js, what npm links and `npx herald` runs)
 * starts Node with the memory settings of docs/scaling.md: a 2 MiB V8 semi-space and two glibc
 * malloc arenas, unless the caller already chose them.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const bin = fileURLToPath(new URL('../bin/herald.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'herald-launcher-'))
// Preloaded through NODE_OPTIONS: prints how Node was started, then exits before the CLI runs.
const probe = join(dir, 'probe.cjs')
writeFileSync(
  probe,
  'process.stdout.write(JSON.stringify({ execArgv: process.execArgv, arenas: process.env.MALLOC_ARENA_MAX ?? null })); process.exit(0)\n',
)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function launch(env: Record<string, string>): { execArgv: string[]; arenas: string | null } {
  const { MALLOC_ARENA_MAX: _, HERALD_NODE_FLAGS: __, ...rest } = process.env
  const result = spawnSync(bin, ['--version'], { env: { ...rest, ...env }, encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return JSON.parse(result.stdout) as { execArgv: string[]; arenas: string | null }
}

describe.skipIf(process.platform === 'win32')('the herald executable', () => {
  it('runs Node with a 2 MiB semi-space and two malloc arenas', () => {
    const started = launch({ NODE_OPTIONS: `--require ${probe}` })
    expect(started.execArgv).toEqual(['--max-semi-space-size=2'])
    expect(started.arenas).toBe('2')
  })

  it("leaves the semi-space to the caller's NODE_OPTIONS and the arenas to the environment", () => {
    const started = launch({
      NODE_OPTIONS: `--require ${probe} --max-semi-space-size=16`,
      MALLOC_ARENA_MAX: '8',
    })
    expect(started.execArgv).toEqual([])
    expect(started.arenas).toBe('8')
  })

  it('takes its Node flags from HERALD_NODE_FLAGS when that is set, even empty', () => {
    expect(launch({ NODE_OPTIONS: `--require ${probe}`, HERALD_NODE_FLAGS: '' }).execArgv).toEqual(
      [],
    )
    expect(
      launch({
        NODE_OPTIONS: `--require ${probe}`,
        HERALD_NODE_FLAGS: '--max-semi-space-size=2 --heap-growing-percent=20',
      }).execArgv,
    ).toEqual(['--max-semi-space-size=2', '--heap-growing-percent=20'])
  })
})
