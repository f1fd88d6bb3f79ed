/**
 * Black-box: what a default `herald serve` does NOT load or build while it starts and holds an
 * idle stream. Every file page of the node binary a process touches (ICU data, the source of a
 * built-in module, the code that runs it) stays in its RSS, and with 15000 idle streams these
 * are a fifth of the hub's memory (docs/scaling.md): what only some features need is loaded by
 * the first request that needs it. A preload (fixtures/startup-probe.mjs) records, at exit, the
 * counts and `process.moduleLoadList`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startHubProcess } from '@herald/testkit'
import { afterAll, describe, expect, it } from 'vitest'

const probe = fileURLToPath(new URL('./fixtures/startup-probe.mjs', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'herald-startup-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Probe {
  collators: number
  /** `process.moduleLoadList`: Node's built-in modules and bindings. */
  modules: string[]
  /** The URL of every ES module loaded (files, packages, `node:` built-ins). */
  urls: string[]
  /** The file of every CommonJS module loaded. */
  cjs: string[]
}

/** Starts `herald serve` on SQLite, opens one stream (its head), then stops it. */
async function footprint(): Promise<Probe> {
  const out = join(dir, 'probe.json')
  const hub = await startHubProcess({
    args: ['--store', `sqlite:${join(dir, 'herald.db')}`],
    env: { NODE_OPTIONS: `--import ${probe}`, HERALD_STARTUP_PROBE: out },
  })
  await new Promise<void>((resolve, reject) => {
    const req = request(`${hub.url}/events?topic=idle`, { agent: false })
    req.once('error', reject)
    req.once('response', (res) => {
      expect(res.statusCode).toBe(200)
      req.destroy()
      resolve()
    })
    req.end()
  })
  expect(await hub.stop()).toBe(0)
  const urls = readFileSync(`${out}.urls`, 'utf8').split('\n').filter(Boolean)
  return { ...(JSON.parse(readFileSync(out, 'utf8')) as Omit<Probe, 'urls'>), urls }
}

describe('herald serve start-up footprint', async () => {
  const seen = await footprint()

  it('saw the start-up (the probe ran)', () => {
    expect(seen.modules).toContain('NativeModule http')
    expect(seen.urls.some((url) => url.includes('/packages/hub/dist/'))).toBe(true)
  })

  it('holds an idle stream without building an Intl.Collator (ICU collation data)', () => {
    expect(seen.collators).toBe(0)
  })

  it('checks its configuration without zod (its module graph)', () => {
    expect(seen.urls.filter((url) => url.includes('/node_modules/zod/'))).toEqual([])
  })

  it('loads no second OpenTelemetry API while nothing registered with it', () => {
    // prom-client's process metrics require() the API's CommonJS build anyway; the hub used to
    // import its ES build too (a second copy, about a hundred modules) for spans that are
    // no-ops until an SDK registers.
    expect(seen.cjs.some((path) => path.includes('/node_modules/prom-client/'))).toBe(true)
    expect(seen.urls.filter((url) => url.includes('/node_modules/@opentelemetry/'))).toEqual([])
  })
})
