/**
 * `herald publish TOPIC DATA`: one POST /publish to a running hub; prints the assigned id.
 */
import { action, type CliContext, type CommandModule, intOption, UsageError } from '../command.js'
import { hubUrl } from './hub-url.js'

/** `herald publish` options, as commander parsed them. */
export interface PublishOptions {
  url?: string
  token?: string
  event?: string
  id?: string
  retry?: string
  private?: boolean
  json?: boolean
}

async function readStdin(input: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of input) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

/** Runs `herald publish`. Resolves to the exit code. */
export async function runPublish(
  topic: string,
  rawData: string,
  options: PublishOptions,
  context: CliContext,
): Promise<number> {
  const retry =
    options.retry === undefined ? undefined : intOption('--retry', options.retry, 0, 2 ** 31 - 1)
  const text = rawData === '-' ? await readStdin(context.stdin) : rawData
  let data: unknown = text
  if (options.json === true) {
    try {
      data = JSON.parse(text)
    } catch (error) {
      throw new UsageError(`--json: DATA is not JSON: ${(error as Error).message}`)
    }
  }
  const body: Record<string, unknown> = { topic, data }
  if (options.event !== undefined) body.event = options.event
  if (options.id !== undefined) body.id = options.id
  if (retry !== undefined) body.retry = retry
  if (options.private === true) body.private = true
  const base = options.url ?? context.env.HERALD_URL ?? 'http://127.0.0.1:8080'
  const token = options.token ?? context.env.HERALD_TOKEN
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`
  const url = hubUrl(base, 'publish')
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    })
  } catch (error) {
    context.stderr.write(
      `herald publish: cannot reach ${base}: ${(error as Error).cause ?? (error as Error).message}\n`,
    )
    return 1
  }
  const answer = (await response.json().catch(() => ({}))) as {
    id?: string
    error?: { code: string; message: string }
  }
  if (!response.ok) {
    const error = answer.error
    context.stderr.write(
      `herald publish: ${response.status} ${error ? `${error.code}: ${error.message}` : response.statusText}\n`,
    )
    return 1
  }
  context.stdout.write(`${answer.id}\n`)
  return 0
}

/** Registers `herald publish`. */
export const publish: CommandModule = (program, context) => {
  const command = program
    .command('publish')
    .summary('publish one event to a hub')
    .description("Publishes one event and prints the id the hub assigned. DATA '-' reads stdin.")
    .argument('<TOPIC>', 'topic to publish to, e.g. news or orders/42')
    .argument('<DATA>', "event data (a string; JSON with --json); '-' reads stdin")
    .option(
      '--url <URL>',
      'hub base URL, may include a path (default: http://127.0.0.1:8080) [HERALD_URL]',
    )
    .option('--token <TOKEN>', 'bearer token [HERALD_TOKEN]')
    .option('--event <TYPE>', 'event type (default: message)')
    .option('--id <ID>', 'your own id, kept as metadata')
    .option('--retry <MS>', 'reconnection hint in milliseconds')
    .option('--private', 'deliver only to subscribers whose token grants the topic')
    .option('--json', 'the data is JSON: DATA is parsed and sent as a JSON value')
  command.action(
    action(command, context, (topic: string, data: string, options: PublishOptions) =>
      runPublish(topic, data, options, context),
    ),
  )
}
