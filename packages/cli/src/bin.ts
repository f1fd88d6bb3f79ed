#!/usr/bin/env node
/**
 * The `herald` executable: runs the program on the process's arguments and streams.
 */
import { run } from './main.js'

run(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`herald: ${message}\n`)
    process.exitCode = 1
  },
)
