/**
 * `herald parse`: reads an event stream on stdin and writes one JSON line per event.
 */

import { createParser } from '@herald/protocol'
import { parseCommandArgs } from './args.js'

export const parseUsage = `Usage: herald parse [--comments] [--last-event-id ID] < stream

Reads a text/event-stream body on stdin (for example from curl -N) and writes one JSON
line per dispatched event: {"type","data","lastEventId"}, and {"retry":N} for each valid
retry field. With --comments, comment lines are written as {"comment":"..."} too.
Example: curl -sN http://127.0.0.1:8080/events?topic=news | herald parse`

/** Runs `herald parse` over `input`, writing JSON lines to `output`. Resolves to the exit code. */
export async function runParse(
  argv: string[],
  input: AsyncIterable<Uint8Array>,
  output: NodeJS.WritableStream,
  errors: NodeJS.WritableStream,
): Promise<number> {
  const args = parseCommandArgs(
    'parse',
    parseUsage,
    {
      args: argv,
      options: {
        comments: { type: 'boolean', default: false },
        'last-event-id': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    },
    { stdout: output, stderr: errors },
  )
  if (args.parsed === undefined) return args.exitCode
  const { values } = args.parsed
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
    ...(values.comments
      ? { onComment: (text: string) => lines.push(JSON.stringify({ comment: text })) }
      : {}),
    onError(error) {
      errors.write(`herald parse: ${error.code}: ${error.message}\n`)
    },
    ...(values['last-event-id'] === undefined ? {} : { lastEventId: values['last-event-id'] }),
  })
  for await (const chunk of input) {
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
