#!/bin/sh
':' //; case " $NODE_OPTIONS " in *semi-space-size*) F= ;; *) F=--max-semi-space-size=2 ;; esac; MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" exec node $F "$0" "$@"
// The `herald` executable that npm links (node_modules/.bin/herald, npx herald).
//
// Run as a program it is a shell script first: line 2 starts Node on this same file with the
// memory settings a hub holding many idle streams wants, which only exist at process start
// (V8 sizes its heap when the isolate is created; `v8.setFlagsFromString` cannot shrink it
// later, and glibc reads MALLOC_ARENA_MAX once):
//   --max-semi-space-size=2  V8's young generation capped at 2 x 2 MiB instead of growing to
//                            2 x 16 MiB under a connection burst (about 26 MiB of RSS at 15 000
//                            streams; no measurable cost in fan-out CPU per delivery, see
//                            docs/benchmarks.md). Left out when NODE_OPTIONS sets a semi-space
//                            size, so `NODE_OPTIONS=--max-semi-space-size=16 herald serve` wins.
//   MALLOC_ARENA_MAX=2       glibc's malloc arenas for Node's threads (about 7 MiB at 15 000
//                            streams), unless the environment already sets it.
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
