/**
 * `herald parse`: reads an event stream on stdin and writes one JSON line per event.
 */

import { createParser } from '@herald/protocol'
import { action, type CliContext, type CommandModule } from '../command.js'

/** `herald parse` options, as commander parsed them. */
export interface ParseOptions {
  comments?: boolean
  lastEventId?: string
}

/** Runs `herald parse` over the context's stdin. Resolves to the exit code. */
export async function runParse(options: ParseOptions, context: CliContext): Promise<number> {
  const { stdout: output, stderr: errors } = context
  let lines: string[] = []
  const parser = createParser({
    onEvent(event) {
      lines.push(
        JSON.stringify({ type: event.type, data: event.data, lastEventId: event.lastEventId }),
      )
    },
    onRetry(ms) {
      lines.push(JSON.stringify({ retry: ms }))
    },
    ...(options.comments === true
      ? { onComment: (text: string) => lines.push(JSON.stringify({ comment: text })) }
      : {}),
    onError(error) {
      errors.write(`herald parse: ${error.code}: ${error.message}\n`)
    },
    ...(options.lastEventId === undefined ? {} : { lastEventId: options.lastEventId }),
  })
  for await (const chunk of context.stdin) {
    parser.feed(chunk)
    if (lines.length > 0) {
      // One write per chunk: a line per write would make large streams syscall-bound.
      const ok = output.write(`${lines.join('\n')}\n`)
      lines = []
      if (!ok) await new Promise((resolve) => output.once('drain', resolve))
    }
  }
  parser.end()
  return 0
}

/** Registers `herald parse`. */
export const parse: CommandModule = (program, context) => {
  const command = program
    .command('parse')
    .summary('read an event stream on stdin, print one JSON line per event')
    .description(
      [
        'Reads a text/event-stream body on stdin (for example from curl -N) and writes one JSON line per dispatched event: {"type","data","lastEventId"}, and {"retry":N} for each valid retry field. With --comments, comment lines are written as {"comment":"..."} too.',
        '',
        'Example: curl -sN http://127.0.0.1:8080/events?topic=news | herald parse',
      ].join('\n'),
    )
    .option('--comments', 'also print comment lines as {"comment":"..."}')
    .option('--last-event-id <ID>', 'the last event ID to start from')
  command.action(action(command, context, (options: ParseOptions) => runParse(options, context)))
}
