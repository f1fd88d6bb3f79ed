/**
 * `herald publish TOPIC DATA`: one POST /publish to a running hub; prints the assigned id.
 */
import { parseCommandArgs } from './args.js'

export const publishUsage = `Usage: herald publish TOPIC DATA [options]

Publishes one event and prints the id the hub assigned. DATA '-' reads stdin.

Options:
  --url URL        hub base URL, may include a path (default http://127.0.0.1:8080) [HERALD_URL]
  --token TOKEN    bearer token [HERALD_TOKEN]
  --event TYPE     event type
  --id ID          your own id, kept as metadata
  --retry MS       reconnection hint
  --private        deliver only to subscribers whose token grants the topic
  --json           DATA is JSON: sent as a JSON value (subscribers get it re-serialised)`

async function readStdin(input: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of input) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

/** Runs `herald publish`. Resolves to the exit code. */
export async function runPublish(
  argv: string[],
  io: {
    stdin: AsyncIterable<Uint8Array>
    stdout: NodeJS.WritableStream
    stderr: NodeJS.WritableStream
  },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const args = parseCommandArgs(
    'publish',
    publishUsage,
    {
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        event: { type: 'string' },
        id: { type: 'string' },
        retry: { type: 'string' },
        private: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    io,
  )
  if (args.parsed === undefined) return args.exitCode
  const { values, positionals } = args.parsed
  const [topic, rawData] = positionals
  if (topic === undefined || rawData === undefined || positionals.length > 2) {
    io.stderr.write(`herald publish: expected TOPIC and DATA\n\n${publishUsage}\n`)
    return 2
  }
  const text = rawData === '-' ? await readStdin(io.stdin) : rawData
  let data: unknown = text
  if (values.json === true) {
    try {
      data = JSON.parse(text)
    } catch (error) {
      io.stderr.write(`herald publish: --json: DATA is not JSON: ${(error as Error).message}\n`)
      return 2
    }
  }
  const body: Record<string, unknown> = { topic, data }
  if (values.event !== undefined) body.event = values.event
  if (values.id !== undefined) body.id = values.id
  if (values.retry !== undefined) body.retry = Number(values.retry)
  if (values.private === true) body.private = true
  const base = values.url ?? env.HERALD_URL ?? 'http://127.0.0.1:8080'
  const token = values.token ?? env.HERALD_TOKEN
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`
  let response: Response
  try {
    response = await fetch(new URL('publish', base.endsWith('/') ? base : `${base}/`), {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    })
  } catch (error) {
    io.stderr.write(
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
    io.stderr.write(
      `herald publish: ${response.status} ${error ? `${error.code}: ${error.message}` : response.statusText}\n`,
    )
    return 1
  }
  io.stdout.write(`${answer.id}\n`)
  return 0
}
