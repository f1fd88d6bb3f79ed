/**
 * Every `herald` command, in help order. A new command is one module in this folder that
 * exports a `CommandModule`, and one line here.
 */
import { type CommandModule, ownArgsCommand } from '../command.js'
import { parse } from './parse.js'
import { publish } from './publish.js'
import { schema } from './schema.js'
import { serve } from './serve.js'
import { subscribe } from './subscribe.js'
import { token } from './token.js'

const bench = ownArgsCommand(
  'bench',
  'measure delivery: synthetic subscribers, latency, loss, SLOs',
  async () => (await import('./bench.js')).runBenchCommand,
)
const chaos = ownArgsCommand(
  'chaos',
  'soak the hub under injected faults and prove nothing is lost',
  async () => (await import('./chaos.js')).runChaosCommand,
)

/** The registered commands. */
export const commands: readonly CommandModule[] = [
  serve,
  publish,
  subscribe,
  schema,
  token,
  parse,
  bench,
  chaos,
]
