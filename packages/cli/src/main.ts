/**
 * The `herald` program: commander parses the command line (help with placeholders,
 * "did you mean" for mistyped commands and options, precise errors); each command in
 * `commands/` registers itself. Exit codes: 0 success (and help), 1 a runtime failure,
 * 2 a usage or configuration error (unknown command or option, missing argument, invalid
 * value, and a bare `herald`).
 */
import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { type CliContext, EXIT } from './command.js'
import { commands } from './commands/index.js'

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

/** Builds the program with every command registered on it. */
export function createProgram(context: CliContext): Command {
  const program = new Command('herald')
    .description('Herald: a Server-Sent Events hub, its client tools and a stream debugger.')
    .version(version(), '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [COMMAND]', 'show help for a command')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
    })
    .addHelpText('after', "\nRun 'herald <command> --help' for a command's options.")
  for (const register of commands) register(program, context)
  for (const command of program.commands) {
    const name = command.name()
    command.configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
      outputError: (text, write) => write(text.replace(/^error: /, `herald ${name}: `)),
    })
    command.showHelpAfterError(
      `Usage: herald ${name} ${command.usage()}\nRun 'herald ${name} --help' for its options.`,
    )
  }
  program.configureOutput({
    writeOut: (text) => context.stdout.write(text),
    writeErr: (text) => context.stderr.write(text),
    outputError: (text, write) => write(text.replace(/^error: /, 'herald: ')),
  })
  return program
}

/** Runs `herald` with `argv` (without the node and script paths). Resolves to the exit code. */
export async function run(
  argv: readonly string[],
  io: Omit<CliContext, 'result'>,
): Promise<number> {
  const context: CliContext = { ...io, result: { code: EXIT.ok } }
  const program = createProgram(context)
  if (argv.length === 0) {
    // A bare `herald` did not say what to do: the overview, on stderr, as a usage error.
    program.outputHelp({ error: true })
    return EXIT.usage
  }
  try {
    await program.parseAsync([...argv], { from: 'user' })
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage
    throw error
  }
  return context.result.code
}
