/**
 * `herald subscribe TOPIC...`: streams events from a hub to stdout, one line each (the
 * data, or with `--json` a JSON object whose `data` is the parsed JSON), and resumes with
 * Last-Event-ID after a drop, saying on stderr when and why it retries.
 */

import { createParser } from '@herald/protocol'
import { action, type CliContext, type CommandModule, intOption } from '../command.js'
import { hubUrl } from './hub-url.js'

/** `herald subscribe` options, as commander parsed them. */
export interface SubscribeOptions {
  url?: string
  token?: string
  json?: boolean
  lastEventId?: string
  count?: string
  /** False with `--no-reconnect`. */
  reconnect?: boolean
}

/** The longest wait between reconnection attempts after repeated failures. */
const MAX_BACKOFF_MS = 30_000

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        resolve()
      },
      { once: true },
    )
  })

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`

/** One output line for an event. */
function format(
  event: { type: string; data: string; lastEventId: string },
  json: boolean,
  stderr: NodeJS.WritableStream,
): string {
  if (!json) return event.data.includes('\n') ? JSON.stringify(event.data) : event.data
  let data: unknown = event.data
  try {
    data = JSON.parse(event.data)
  } catch {
    stderr.write(
      `herald subscribe: event ${event.lastEventId || '(no id)'}: data is not JSON, printed as a string\n`,
    )
  }
  return JSON.stringify({ id: event.lastEventId, type: event.type, data })
}

/**
 * Runs `herald subscribe`. Resolves to the exit code: 0 after `--count` events, on `signal`,
 * or (with `--no-reconnect`) when the hub ends the stream; 1 when the hub refuses (4xx), or
 * with `--no-reconnect` when it cannot be reached or fails.
 */
export async function runSubscribe(
  topics: string[],
  options: SubscribeOptions,
  context: CliContext,
  signal?: AbortSignal,
): Promise<number> {
  const { stdout, stderr } = context
  const count =
    options.count === undefined
      ? Number.POSITIVE_INFINITY
      : intOption('--count', options.count, 1, Number.MAX_SAFE_INTEGER)
  const base = options.url ?? context.env.HERALD_URL ?? 'http://127.0.0.1:8080'
  const url = hubUrl(base, 'events')
  for (const topic of topics) url.searchParams.append('topic', topic)
  const token = options.token ?? context.env.HERALD_TOKEN
  const reconnect = options.reconnect !== false
  let lastEventId = options.lastEventId
  let retryMs = 1000
  let failures = 0
  let seen = 0
  const controller = new AbortController()
  signal?.addEventListener('abort', () => controller.abort(), { once: true })

  for (;;) {
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`
    if (lastEventId !== undefined && lastEventId !== '') headers['last-event-id'] = lastEventId
    let problem: string
    try {
      const response = await fetch(url, { headers, signal: controller.signal })
      if (!response.ok || response.body === null) {
        const answer = (await response.json().catch(() => ({}))) as {
          error?: { code: string; message: string }
        }
        const detail = answer.error
          ? `${answer.error.code}: ${answer.error.message}`
          : response.statusText
        // Client errors will not fix themselves by retrying.
        if (response.status < 500) {
          stderr.write(`herald subscribe: ${response.status} ${detail}\n`)
          return 1
        }
        problem = `${response.status} ${detail}`
        failures++
      } else {
        failures = 0
        const parser = createParser({
          onEvent(event) {
            lastEventId = event.lastEventId
            stdout.write(`${format(event, options.json === true, stderr)}\n`)
            if (++seen >= count) controller.abort()
          },
          onRetry(ms) {
            retryMs = ms
          },
        })
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
          parser.feed(chunk)
        if (!reconnect) return 0
        problem = 'the hub ended the stream'
      }
    } catch (error) {
      if (controller.signal.aborted) return 0
      const cause = (error as Error).cause ?? (error as Error).message
      problem = `cannot reach ${base}: ${cause}`
      failures++
    }
    if (controller.signal.aborted) return 0
    if (!reconnect) {
      stderr.write(`herald subscribe: ${problem}\n`)
      return 1
    }
    // The hub's retry hint is the floor; repeated failures back off up to 30 s.
    const delay = Math.min(
      MAX_BACKOFF_MS,
      Math.max(retryMs, retryMs * 2 ** Math.max(0, failures - 1)),
    )
    const resume =
      lastEventId === undefined || lastEventId === '' ? '' : `, resuming after ${lastEventId}`
    const attempt = failures > 1 ? ` (attempt ${failures})` : ''
    stderr.write(`herald subscribe: ${problem}; retrying in ${seconds(delay)}${resume}${attempt}\n`)
    await sleep(delay, controller.signal)
    if (controller.signal.aborted) return 0
  }
}

/** Registers `herald subscribe`. */
export const subscribe: CommandModule = (program, context) => {
  const command = program
    .command('subscribe')
    .summary("stream a hub's events to stdout")
    .description(
      [
        'Prints each event\'s data on its own line (multi-line data is JSON-escaped), or with --json one JSON object per event: {"id","type","data"} with data parsed as JSON.',
        'Reconnects after a drop, resuming after the last id, and says so on stderr.',
        'Topic patterns: orders/* (one segment), orders/** (any depth).',
      ].join('\n'),
    )
    .argument('<TOPIC...>', 'topics or topic patterns to subscribe to')
    .option('--url <URL>', 'hub base URL (default: http://127.0.0.1:8080) [HERALD_URL]')
    .option('--token <TOKEN>', 'bearer token [HERALD_TOKEN]')
    .option('--json', 'the data is JSON: print {"id","type","data"} lines with data parsed')
    .option('--last-event-id <ID>', 'resume after this id')
    .option('--count <N>', 'exit after N events')
    .option('--no-reconnect', 'exit when the stream ends (1 if it could not be opened)')
  command.action(
    action(command, context, (topics: string[], options: SubscribeOptions) =>
      runSubscribe(topics, options, context),
    ),
  )
}
