#!/usr/bin/env node
/**
 * The `herald` command line: dispatches to one module per command.
 */
import { readFileSync } from 'node:fs'
import { runParse } from './commands/parse.js'

const usage = `Usage: herald <command> [options]

Commands:
  serve       run the hub (topics, publish API, replay, auth, metrics)
  publish     publish one event to a hub
  subscribe   stream a hub's events to stdout
  token       mint an HS256 development token
  parse       read an event stream on stdin, print one JSON line per event
  bench       measure delivery: synthetic subscribers, latency, loss, SLOs
  chaos       soak the hub under injected faults and prove nothing is lost

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
    // Loaded on demand: the hub pulls in SQLite, jose and prom-client, which other
    // commands do not need to pay for at startup.
    case 'serve':
      return (await import('./commands/serve.js')).runServe(rest)
    case 'publish':
      return (await import('./commands/publish.js')).runPublish(rest, process)
    case 'subscribe':
      return (await import('./commands/subscribe.js')).runSubscribe(rest, process)
    case 'token':
      return (await import('./commands/token.js')).runToken(rest, process)
    case 'bench':
      return (await import('./commands/bench.js')).runBenchCommand(rest, process)
    case 'chaos':
      return (await import('./commands/chaos.js')).runChaosCommand(rest, process)
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
