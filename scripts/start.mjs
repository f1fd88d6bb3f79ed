// `npm start`: builds once if needed, then runs the hub (`herald serve`) with its defaults:
// http://127.0.0.1:8080 and the embedded SQLite log in ./herald-data. Extra arguments go to
// `herald serve` (`npm start -- --port 9000`). SIGINT/SIGTERM are passed on, so the hub drains.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
if (!existsSync(bin)) {
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
  const build = spawnSync(process.execPath, [tsc, '-b'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) process.exit(build.status ?? 1)
}
const child = spawn(process.execPath, [bin, 'serve', ...process.argv.slice(2)], {
  stdio: 'inherit',
})
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal))
}
child.on('exit', (code, signal) => {
  process.exit(code ?? (signal === null ? 1 : 0))
})
