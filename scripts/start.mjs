// `npm start`: builds once if needed, then runs the hub (`herald serve`) with its defaults.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const bin = new URL('../packages/cli/dist/bin.js', import.meta.url)
if (!existsSync(bin)) {
  const build = spawnSync('npx', ['tsc', '-b'], { stdio: 'inherit' })
  if (build.status !== 0) process.exit(build.status ?? 1)
}
const args = process.argv.slice(2)
const child = spawnSync(process.execPath, [bin.pathname, 'serve', ...args], { stdio: 'inherit' })
process.exit(child.status ?? 1)
