// `npm start`: builds (tsc -b is incremental: a no-op when nothing changed, so an edit is
// never run stale), then runs the hub (`herald serve`) in this process with its defaults:
// http://127.0.0.1:8080 and the embedded SQLite log in ./herald-data. Extra arguments go to
// `herald serve` (`npm start -- --port 9000`).
//
// In this process, not a child: Ctrl-C already reaches every process in the terminal's
// foreground group, and npm forwards the signal it got once more. A child would get the
// terminal's SIGINT plus a forwarded copy, and take the copy for a second "stop now".
// `herald serve` itself treats a repeat within a few milliseconds as the same Ctrl-C.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
const build = spawnSync(process.execPath, [tsc, '-b'], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) {
  process.stderr.write('npm start: the build failed (see above)\n')
  process.exit(build.status ?? 1)
}
// The dashboard's Vite build takes seconds: only when it was never built (`npm run build`
// rebuilds it after a change to packages/dashboard).
if (!existsSync(new URL('../packages/cli/dist/dashboard/index.html', import.meta.url))) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const dashboard = spawnSync(npm, ['run', 'build', '-w', '@herald/dashboard'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (dashboard.status !== 0) process.stderr.write('npm start: the dashboard did not build\n')
}
const { run } = await import('../packages/cli/dist/main.js')
process.exitCode = await run(['serve', ...process.argv.slice(2)], {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
})
