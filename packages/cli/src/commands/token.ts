/**
 * `herald token`: mints an HS256 development token with a `herald` claim.
 */
import { parseArgs } from 'node:util'
import { mintToken } from '@herald/hub'
import { isHeraldError } from '@herald/protocol'

export const tokenUsage = `Usage: herald token [--publish PATTERN]... [--subscribe PATTERN]... [options]

Mints an HS256 token for development and tests; production tokens come from your identity
provider. A lone '*' grants every topic.

Options:
  --publish PATTERN     topic pattern the token may publish to (repeatable)
  --subscribe PATTERN   topic pattern the token may subscribe to (repeatable)
  --secret SECRET       signing secret [HERALD_JWT_SECRET]
  --ttl SECONDS         lifetime (default 3600; 0: never expires)
  --sub SUBJECT         sub claim
  --aud AUDIENCE        aud claim
  --admin               grant the admin views (dashboard, its API, /metrics): herald.admin`

/** Runs `herald token`. Resolves to the exit code. */
export async function runToken(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let values: {
    publish?: string[] | undefined
    subscribe?: string[] | undefined
    secret?: string | undefined
    ttl?: string | undefined
    sub?: string | undefined
    aud?: string | undefined
    admin?: boolean | undefined
    help?: boolean | undefined
  }
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      options: {
        publish: { type: 'string', multiple: true },
        subscribe: { type: 'string', multiple: true },
        secret: { type: 'string' },
        ttl: { type: 'string' },
        sub: { type: 'string' },
        aud: { type: 'string' },
        admin: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (error) {
    io.stderr.write(`herald token: ${(error as Error).message}\n\n${tokenUsage}\n`)
    return 2
  }
  if (values.help === true) {
    io.stdout.write(`${tokenUsage}\n`)
    return 0
  }
  const secret = values.secret ?? env.HERALD_JWT_SECRET
  if (secret === undefined || secret === '') {
    io.stderr.write(
      "herald token: give --secret or set HERALD_JWT_SECRET (the hub's --jwt-secret)\n",
    )
    return 2
  }
  const ttl = values.ttl === undefined ? 3600 : Number(values.ttl)
  if (!Number.isSafeInteger(ttl) || ttl < 0) {
    io.stderr.write('herald token: --ttl must be a non-negative integer number of seconds\n')
    return 2
  }
  try {
    const token = await mintToken({
      secret,
      publish: values.publish,
      subscribe: values.subscribe,
      ttlSeconds: ttl,
      subject: values.sub,
      audience: values.aud,
      admin: values.admin === true,
    })
    io.stdout.write(`${token}\n`)
    return 0
  } catch (error) {
    io.stderr.write(
      `herald token: ${isHeraldError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
    )
    return 2
  }
}
