/**
 * Argument parsing shared by the commands: a usage error prints the message and the usage
 * and exits 2; `--help` prints the usage and exits 0.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'

/** What {@link parseCommandArgs} parsed, or the exit code to return at once. */
export type CommandArgs<T extends ParseArgsConfig> =
  | { parsed: ReturnType<typeof parseArgs<T>>; exitCode?: undefined }
  | { parsed?: undefined; exitCode: number }

/**
 * Parses `config.args` strictly. `config.options` should include `help` (boolean).
 */
export function parseCommandArgs<T extends ParseArgsConfig>(
  command: string,
  usage: string,
  config: T,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): CommandArgs<T> {
  let parsed: ReturnType<typeof parseArgs<T>>
  try {
    parsed = parseArgs(config)
  } catch (error) {
    io.stderr.write(`herald ${command}: ${(error as Error).message}\n\n${usage}\n`)
    return { exitCode: 2 }
  }
  if ((parsed.values as { help?: unknown }).help === true) {
    io.stdout.write(`${usage}\n`)
    return { exitCode: 0 }
  }
  return { parsed }
}
