/**
 * `herald serve`: the definition (flags from serve-settings.ts, help) and the configuration
 * check. The run itself is in serve-run.ts, loaded only once the configuration is valid:
 * the hub pulls in SQLite, jose and prom-client, which help, usage errors and the other
 * commands do not need to pay for.
 */

import { isHeraldError } from '@herald/protocol'
import { Option } from 'commander'
import { action, type CommandModule } from '../command.js'
import { type FlagValues, type ResolvedServeConfig, resolveServeConfig } from './serve-config.js'
import { envOf, flagOf, metaOf, settingKeys } from './serve-settings.js'
import { watchStopSignals } from './shutdown-signals.js'

const description = [
  'Runs the Herald hub. Subscribe: GET /events?topic=T (repeatable; Last-Event-ID resumes). Publish: POST /publish {"topic","data"}, or a Mercure form POST to /.well-known/mercure.',
  '',
  'Every option is also a HERALD_* environment variable and a key of the --config file; flags win over the environment, which wins over the file. SIGTERM or Ctrl-C drains the streams (exit 0); a second one closes them at once, each with its retry hint.',
].join('\n')

/** Registers `herald serve`. */
export const serve: CommandModule = (program, context) => {
  const command = program
    .command('serve')
    .summary('run the hub (topics, publish API, replay, auth, metrics)')
    .description(description)
  for (const key of settingKeys) {
    const meta = metaOf(key)
    const flag = `--${flagOf(key)}${meta.placeholder === undefined ? '' : ` <${meta.placeholder}>`}`
    const fallback = meta.default === undefined ? '' : ` (default: ${meta.default})`
    const option = new Option(flag, `${meta.help}${fallback} [${envOf(key)}]`)
    if (meta.repeatable === true) {
      option.argParser((value: string, previous: string[] | undefined) => [
        ...(previous ?? []),
        value,
      ])
    }
    command.addOption(option)
    if (meta.negatable !== undefined) {
      command.addOption(
        new Option(`--no-${flagOf(key)}`, `${meta.negatable} [${envOf(key)}=false]`),
      )
    }
  }
  command.option(
    '--config <PATH>',
    'config file, JSON, YAML (.yaml/.yml) or TOML (.toml), with any of the settings above as camelCase or kebab-case keys [HERALD_CONFIG]',
  )
  command.action(
    action(command, context, async (options: FlagValues & { config?: string }) => {
      const { config: configPath, ...flags } = options
      // Signals first: one that lands while the store opens still ends in a clean stop.
      const signals = watchStopSignals()
      try {
        // The configuration is checked before the hub and its store load, so a usage error
        // answers at once.
        let resolved: ResolvedServeConfig
        try {
          const path = configPath ?? context.env.HERALD_CONFIG
          resolved = await resolveServeConfig(flags, context.env, path === '' ? undefined : path)
        } catch (error) {
          context.stderr.write(
            `herald serve: ${isHeraldError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
          )
          return 2
        }
        const { runServe } = await import('./serve-run.js')
        return await runServe(resolved, signals)
      } finally {
        signals.dispose()
      }
    }),
  )
}
