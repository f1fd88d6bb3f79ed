/**
 * `npm run lint` (scripts/lint.mjs) checks the files git tracks: an untracked scratch file
 * never fails the run, the same file once added does. A real git repository, real Biome.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'herald-lint-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const run = (command: string, args: string[]) =>
  spawnSync(command, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 })

describe('npm run lint', () => {
  it('lints what git tracks, not scratch files', () => {
    expect(run('git', ['init', '-q']).status).toBe(0)
    copyFileSync(join(root, 'biome.json'), join(dir, 'biome.json'))
    writeFileSync(join(dir, 'clean.ts'), "export const greeting = 'hello'\n")
    expect(run('git', ['add', 'biome.json', 'clean.ts']).status).toBe(0)
    // A scratch file Biome would refuse (formatting and an unused variable).
    writeFileSync(join(dir, 'scratch.ts'), 'const  unused = 1;;\n')
    const lint = () => run(process.execPath, [join(root, 'scripts', 'lint.mjs')])
    const clean = lint()
    expect(clean.status, clean.stdout + clean.stderr).toBe(0)
    expect(run('git', ['add', 'scratch.ts']).status).toBe(0)
    const tracked = lint()
    expect(tracked.status).toBe(1)
    expect(tracked.stdout + tracked.stderr).toContain('scratch.ts')
  })
})
