#!/usr/bin/env node
// The `herald` executable that npm links (node_modules/.bin/herald, npx herald). It exists
// before any build, so in a fresh checkout the link is there and says what to do instead of
// a MODULE_NOT_FOUND stack. The CLI itself is dist/bin.js. (`npm start` and
// `npm run herald` rebuild incrementally first, so they never run stale code.)
import { existsSync } from 'node:fs'

const entry = new URL('../dist/bin.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write(
    "herald: the CLI is not built yet: run 'npm run build' (or 'npm start') at the root of the checkout\n",
  )
  process.exit(1)
}
await import(entry.href)
