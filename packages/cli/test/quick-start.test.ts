/**
 * The README's quick start: `npm start` (scripts/start.mjs) runs the hub with the embedded
 * SQLite log, serves publish and subscribe, and drains on SIGTERM with exit code 0.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openEventStream } from '@herald/testkit'
import { afterAll, describe, expect, it } from 'vitest'

const startScript = fileURLToPath(new URL('../../../scripts/start.mjs', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'herald-quick-start-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('npm start', () => {
  it('serves the hub with the embedded SQLite log by default and exits 0 on SIGTERM', async () => {
    // Run from an empty directory: the default store is ./herald-data/herald.db there.
    const child = spawn(process.execPath, [startScript, '--port', '0'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(
        () => reject(new Error(`no listening line; stderr: ${stderr}`)),
        // npm start runs an incremental tsc -b first: quick when idle, slow on a loaded CI box.
        60_000,
      )
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d
        const match = /herald listening on (\S+)/.exec(out)
        if (match?.[1] !== undefined) {
          clearTimeout(timer)
          resolve(match[1])
        }
      })
    })
    expect(existsSync(join(dir, 'herald-data', 'herald.db'))).toBe(true)

    const stream = await openEventStream(`${url}/events?topic=news`)
    const response = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'news', data: { hello: 'world' } }),
    })
    expect(response.status).toBe(200)
    const [event] = await stream.count(1)
    expect(JSON.parse(event?.data ?? 'null')).toEqual({ hello: 'world' })
    stream.close()

    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  }, 90_000)
})
