/**
 * The browser bundle budget, checked on every `npm test`: runs the same script as
 * `npm run size:client`, which exits 1 when the gzip size passes 5 KiB.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const script = fileURLToPath(new URL('../../../scripts/check-client-size.mjs', import.meta.url))

it('keeps the minified + gzipped browser bundle within 5 KiB', () => {
  const run = spawnSync(process.execPath, [script], { encoding: 'utf8' })
  expect(run.stderr).toBe('')
  expect(run.status).toBe(0)
  const gzip = Number(/(\d+) B gzip/.exec(run.stdout)?.[1])
  expect(gzip).toBeGreaterThan(1000)
  expect(gzip).toBeLessThanOrEqual(5 * 1024)
})
