#!/bin/sh
':' //; MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" exec node $HERALD_NODE_FLAGS "$0" "$@"
// The `herald` executable that npm links (node_modules/.bin/herald, npx herald).
//
// Run as a program it is a shell script first: line 2 starts Node on this same file with
// MALLOC_ARENA_MAX=2 (glibc's malloc arenas for Node's threads: about 7 MiB less RSS at 15 000
// streams; glibc reads it once, at process start), unless the environment already sets it.
// HERALD_NODE_FLAGS, when set, is passed to Node as flags. For example
// `HERALD_NODE_FLAGS=--max-semi-space-size=2` caps V8's young generation at 2 x 2 MiB (it
// otherwise grows to 2 x 16 MiB under a burst): with the memory reducer on (the default), an idle
// hub is the same size either way, because the reducer's GCs shrink the young generation
// again; with `HERALD_MEMORY_REDUCER=0` the cap keeps about 32 MiB off 15 000 idle streams.
// It costs publishes a few percent of throughput (docs/deployment.md has the figures).
// For Node, line 2 is a string statement and a comment. `node bin/herald.js` and
// `node dist/bin.js` run without these settings (pass them yourself).
//
// It exists before any build, so in a fresh checkout the link is there and says what to do
// instead of a MODULE_NOT_FOUND stack. The CLI itself is dist/bin.js. (`npm start` and
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
