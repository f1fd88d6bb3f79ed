/**
 * docs/deployment/herald.service passes `systemd-analyze verify` (the nginx and HAProxy configs
 * beside it are run by load-balancers.test.ts).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const analyze = '/usr/bin/systemd-analyze'

describe('docs/deployment', () => {
  it.skipIf(!existsSync(analyze))(
    'herald.service passes systemd-analyze verify',
    { timeout: 120_000 },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'herald-deploy-systemd-'))
      writeFileSync(
        join(dir, 'herald.service'),
        readFileSync(join(root, 'docs/deployment/herald.service')),
      )
      const result = spawnSync(analyze, ['verify', '--man=no', join(dir, 'herald.service')], {
        encoding: 'utf8',
        timeout: 100_000,
      })
      expect(result.error).toBeUndefined()
      // Only complaints about this unit count (the host's own units may have warnings); checked
      // to fail on a misspelt key ("Unknown key 'Restartt' in section [Service]").
      const ours = `${result.stdout}${result.stderr}`
        .split('\n')
        .filter(
          (line) => line.includes('herald.service') && !/Failed to|not found|No such/.test(line),
        )
      expect(ours).toEqual([])
    },
  )
})
