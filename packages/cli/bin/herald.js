#!/usr/bin/env node
// The `herald` executable that npm links (node_modules/.bin/herald, npx herald). It exists
// before any build, so in a fresh checkout the link is there and says what to do instead of
// a MODULE_NOT_FOUND stack; in a checkout it also warns when the build is older than the
// sources. The CLI itself is dist/bin.js.
import { existsSync, readdirSync, statSync } from 'node:fs'

const entry = new URL('../dist/bin.js', import.meta.url)
const checkout = new URL('../../../packages/', import.meta.url)

/** The newest modification time under `dir` (TypeScript sources only). */
function newest(dir) {
  let latest = 0
  for (const item of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (item.isFile() && item.name.endsWith('.ts') && !item.name.endsWith('.test.ts')) {
      latest = Math.max(latest, statSync(`${item.parentPath}/${item.name}`).mtimeMs)
    }
  }
  return latest
}

if (!existsSync(entry)) {
  process.stderr.write(
    "herald: the CLI is not built yet: run 'npm run build' (or 'npm start') at the root of the checkout\n",
  )
  process.exit(1)
}
if (existsSync(new URL('../tsconfig.json', import.meta.url)) && existsSync(checkout)) {
  const built = statSync(entry).mtimeMs
  const stale = readdirSync(checkout).some((name) => {
    const src = new URL(`${name}/src/`, checkout)
    return existsSync(src) && newest(src) > built
  })
  if (stale) {
    process.stderr.write(
      "herald: warning: the build is older than the sources: run 'npm run build' for your changes\n",
    )
  }
}
await import(entry.href)
