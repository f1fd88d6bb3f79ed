/**
 * `herald token`: mints an HS256 development token with a `herald` claim.
 */
import { isHeraldError } from '@herald/protocol'
import { action, type CliContext, type CommandModule, intOption, UsageError } from '../command.js'

/** `herald token` options, as commander parsed them. */
export interface TokenOptions {
  publish?: string[]
  subscribe?: string[]
  secret?: string
  ttl?: string
  sub?: string
  aud?: string
  admin?: boolean
}

/** Runs `herald token`. Resolves to the exit code. */
export async function runToken(options: TokenOptions, context: CliContext): Promise<number> {
  const secret = options.secret ?? context.env.HERALD_JWT_SECRET
  if (secret === undefined || secret === '') {
    throw new UsageError("give --secret or set HERALD_JWT_SECRET (the hub's --jwt-secret)")
  }
  const ttl =
    options.ttl === undefined ? 3600 : intOption('--ttl', options.ttl, 0, Number.MAX_SAFE_INTEGER)
  // Loaded on demand: the hub module pulls in jose and prom-client.
  const { mintToken } = await import('@herald/hub')
  try {
    const token = await mintToken({
      secret,
      publish: options.publish,
      subscribe: options.subscribe,
      ttlSeconds: ttl,
      subject: options.sub,
      audience: options.aud,
      admin: options.admin === true,
    })
    context.stdout.write(`${token}\n`)
    return 0
  } catch (error) {
    throw new UsageError(
      `${isHeraldError(error) ? `${error.code}: ` : ''}${(error as Error).message}`,
    )
  }
}

const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
]

/** Registers `herald token`. */
export const token: CommandModule = (program, context) => {
  const command = program
    .command('token')
    .summary('mint an HS256 development token')
    .description(
      "Mints an HS256 token for development and tests; production tokens come from your identity provider. A lone '*' grants every topic; 'news/*' grants news/1 but not news itself.",
    )
    .option('--publish <PATTERN>', 'topic pattern the token may publish to (repeatable)', collect)
    .option(
      '--subscribe <PATTERN>',
      'topic pattern the token may subscribe to (repeatable)',
      collect,
    )
    .option('--secret <SECRET>', "signing secret, the hub's --jwt-secret [HERALD_JWT_SECRET]")
    .option('--ttl <SECONDS>', 'lifetime in seconds (default: 3600; 0: never expires)')
    .option('--sub <SUBJECT>', 'sub claim')
    .option('--aud <AUDIENCE>', 'aud claim')
    .option('--admin', 'grant the admin views (dashboard, its API, /metrics): herald.admin')
  command.action(action(command, context, (options: TokenOptions) => runToken(options, context)))
}
