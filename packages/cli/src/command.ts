/**
 * What every `herald` command is given and returns: the process's streams and environment
 * in, an exit code out. A command is one module under `commands/` that registers itself on
 * the program (see `commands/index.ts`); its heavy code loads only when it runs.
 */
import type { Command } from 'commander'

/** The process-facing side of a command run; tests pass their own streams. */
export interface CliContext {
  readonly stdin: AsyncIterable<Uint8Array>
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
  readonly env: NodeJS.ProcessEnv
  /** Where the command that ran leaves its exit code (see {@link action}). */
  readonly result: { code: number }
}

/**
 * Exit codes shared by every command (documented in the CLI README): 0 success, 1 a runtime
 * failure (the hub answered an error, the network failed, events were lost), 2 a usage or
 * configuration error (unknown command or option, invalid value).
 */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const

/**
 * Registers one command on `program`; its action is wrapped in {@link action}, which
 * records the exit code the command resolved to.
 */
export type CommandModule = (program: Command, context: CliContext) => void

/** A usage error raised inside an action: printed as `herald CMD: message`, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/**
 * Wraps an async action that returns an exit code. `UsageError`s print as
 * `herald CMD: message` with a pointer to `--help` and exit 2.
 */
export function action<A extends unknown[]>(
  command: Command,
  context: CliContext,
  run: (...args: A) => Promise<number>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code: number
    try {
      code = await run(...args)
    } catch (error) {
      if (!(error instanceof UsageError)) throw error
      context.stderr.write(
        `herald ${command.name()}: ${error.message}\n(run 'herald ${command.name()} --help' for its options)\n`,
      )
      code = EXIT.usage
    }
    context.result.code = code
  }
}

/**
 * Parses an option value as an integer in `[min, max]`, or throws a {@link UsageError}
 * naming the flag.
 */
export function intOption(flag: string, value: string, min: number, max: number): number {
  const n = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`
    throw new UsageError(`${flag}: expected an integer ${range}, got ${JSON.stringify(value)}`)
  }
  return n
}

/** A command that parses its own argument list and resolves to its exit code. */
export type OwnArgsRun = (
  argv: string[],
  io: {
    stdin: AsyncIterable<Uint8Array>
    stdout: NodeJS.WritableStream
    stderr: NodeJS.WritableStream
  },
  env: NodeJS.ProcessEnv,
) => Promise<number>

/**
 * A {@link CommandModule} for a command that parses its own arguments (with
 * `node:util` parseArgs, its own help and usage errors): commander hands it every argument
 * after the command's name, untouched. `load` imports the command's module when it runs.
 */
export function ownArgsCommand(
  name: string,
  summary: string,
  load: () => Promise<OwnArgsRun>,
): CommandModule {
  return (program, context) => {
    const command = program
      .command(name)
      .summary(summary)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
    command.action(
      action(command, context, async () => (await load())(command.args, context, context.env)),
    )
  }
}
