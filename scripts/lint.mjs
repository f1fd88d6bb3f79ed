// `npm run lint`: Biome over the files git tracks (staged new files included), so a scratch
// file in the work tree never fails `npm test` before a test has run. Biome's VCS
// integration only honours .gitignore; untracked files it would still check. Outside a git
// checkout (an unpacked tarball), the whole tree. Extra arguments go to Biome
// (`npm run lint -- --write`).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// The checkout being linted: the current directory (npm runs scripts at the root).
const root = process.cwd()
const biome = fileURLToPath(new URL('../node_modules/@biomejs/biome/bin/biome', import.meta.url))
const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--', '.'], {
  cwd: root,
  encoding: 'utf8',
})
// A tracked file deleted in the work tree is not there to check.
const files =
  listed.status === 0
    ? listed.stdout.split('\0').filter((file) => file !== '' && existsSync(join(root, file)))
    : undefined
const args = [
  'check',
  '--error-on-warnings',
  '--no-errors-on-unmatched',
  '--files-ignore-unknown=true',
  ...process.argv.slice(2),
  ...(files ?? ['.']),
]
const result = spawnSync(process.execPath, [biome, ...args], { cwd: root, stdio: 'inherit' })
process.exit(result.status ?? 1)
