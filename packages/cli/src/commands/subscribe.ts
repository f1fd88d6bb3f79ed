/**
 * `herald subscribe TOPIC...`: streams events from a hub to stdout, one line each
 * (`data`, or a JSON object with `--json`), and resumes with Last-Event-ID after a drop.
 */

import { createParser } from '@herald/protocol'
import { parseCommandArgs } from './args.js'

export const subscribeUsage = `Usage: herald subscribe TOPIC... [options]

Prints each event's data on its own line (multi-line data is JSON-escaped), or with --json
one JSON object per event: {"id","type","data"}. Reconnects after a drop, resuming from the
last id. Topic patterns: orders/* (one segment), orders/** (any depth).

Options:
  --url URL             hub URL (default http://127.0.0.1:8080) [HERALD_URL]
  --token TOKEN         bearer token [HERALD_TOKEN]
  --json                JSON lines
  --last-event-id ID    resume after this id
  --count N             exit after N events
  --no-reconnect        exit when the stream ends`

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs `herald subscribe`. Resolves to the exit code. */
export async function runSubscribe(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  env: NodeJS.ProcessEnv = process.env,
  signal?: AbortSignal,
): Promise<number> {
  const args = parseCommandArgs(
    'subscribe',
    subscribeUsage,
    {
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        'last-event-id': { type: 'string' },
        count: { type: 'string' },
        'no-reconnect': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    io,
  )
  if (args.parsed === undefined) return args.exitCode
  const { values, positionals } = args.parsed
  if (positionals.length === 0) {
    io.stderr.write(`herald subscribe: expected at least one TOPIC\n\n${subscribeUsage}\n`)
    return 2
  }
  const count = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count)
  if (!(count > 0)) {
    io.stderr.write('herald subscribe: --count must be a positive integer\n')
    return 2
  }
  const base = values.url ?? env.HERALD_URL ?? 'http://127.0.0.1:8080'
  const url = new URL('events', base.endsWith('/') ? base : `${base}/`)
  for (const topic of positionals) url.searchParams.append('topic', topic)
  const token = values.token ?? env.HERALD_TOKEN
  let lastEventId = values['last-event-id']
  let retryMs = 1000
  let seen = 0
  const controller = new AbortController()
  signal?.addEventListener('abort', () => controller.abort(), { once: true })

  for (;;) {
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`
    if (lastEventId !== undefined && lastEventId !== '') headers['last-event-id'] = lastEventId
    try {
      const response = await fetch(url, { headers, signal: controller.signal })
      if (!response.ok || response.body === null) {
        const answer = (await response.json().catch(() => ({}))) as {
          error?: { code: string; message: string }
        }
        const detail = answer.error
          ? `${answer.error.code}: ${answer.error.message}`
          : response.statusText
        io.stderr.write(`herald subscribe: ${response.status} ${detail}\n`)
        // Client errors will not fix themselves by retrying.
        if (response.status < 500) return 1
      } else {
        const parser = createParser({
          onEvent(event) {
            lastEventId = event.lastEventId
            const line =
              values.json === true
                ? JSON.stringify({ id: event.lastEventId, type: event.type, data: event.data })
                : event.data.includes('\n')
                  ? JSON.stringify(event.data)
                  : event.data
            io.stdout.write(`${line}\n`)
            if (++seen >= count) controller.abort()
          },
          onRetry(ms) {
            retryMs = ms
          },
        })
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
          parser.feed(chunk)
      }
    } catch (error) {
      if (controller.signal.aborted) return 0
      io.stderr.write(`herald subscribe: ${(error as Error).cause ?? (error as Error).message}\n`)
    }
    if (controller.signal.aborted) return 0
    if (values['no-reconnect'] === true) return 0
    await sleep(retryMs)
  }
}
