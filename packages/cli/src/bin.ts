#!/usr/bin/env node
/**
 * The `herald` command line: dispatches to one module per command.
 */
import { readFileSync } from 'node:fs'
import { runParse } from './commands/parse.js'
import { runPublish } from './commands/publish.js'
import { runServe } from './commands/serve.js'
import { runSubscribe } from './commands/subscribe.js'
import { runToken } from './commands/token.js'

const usage = `Usage: herald <command> [options]

Commands:
  serve       run the hub (topics, publish API, replay, auth, metrics)
  publish     publish one event to a hub
  subscribe   stream a hub's events to stdout
  token       mint an HS256 development token
  parse       read an event stream on stdin, print one JSON line per event

Run 'herald <command> --help' for a command's options.`

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'parse':
      return runParse(rest, process.stdin, process.stdout, process.stderr)
    case 'serve':
      return runServe(rest)
    case 'publish':
      return runPublish(rest, process)
    case 'subscribe':
      return runSubscribe(rest, process)
    case 'token':
      return runToken(rest, process)
    case '--version':
    case '-v':
      process.stdout.write(`${version()}\n`)
      return 0
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${usage}\n`)
      return 0
    default:
      process.stderr.write(`herald: unknown command '${command}'\n\n${usage}\n`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`herald: ${message}\n`)
    process.exitCode = 1
  },
)
