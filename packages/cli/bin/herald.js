#!/bin/sh
':' //; S=--max-semi-space-size=2; case " $NODE_OPTIONS " in *semi-space-size*) S= ;; esac; MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" exec node ${HERALD_NODE_FLAGS-$S} "$0" "$@"
// The `herald` executable that npm links (node_modules/.bin/herald, npx herald).
//
// Run as a program it is a shell script first: line 2 starts Node on this same file with the
// memory settings a hub holding many idle streams wants, given at process start (V8 sizes its
// young generation when the isolate is created, `v8.setFlagsFromString` cannot shrink it
// later, and glibc reads MALLOC_ARENA_MAX once). docs/scaling.md has the figures:
//   --max-semi-space-size=2  V8's young generation capped at 2 x 2 MiB instead of growing to
//                            2 x 16 MiB under a connection burst (about 26 MiB of RSS at 15 000
//                            streams; no measurable cost in fan-out CPU per delivery). Left out
//                            when NODE_OPTIONS sets a semi-space size.
//   MALLOC_ARENA_MAX=2       glibc's malloc arenas for Node's threads (about 7 MiB at 15 000
//                            streams), unless the environment already sets it.
// HERALD_NODE_FLAGS, when set, replaces the Node flags (empty: none). For example
// `HERALD_NODE_FLAGS='--max-semi-space-size=2 --heap-growing-percent=20'` trades fan-out CPU
// for about 10 MiB less at 15 000 streams (docs/scaling.md).
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
