/**
 * `herald schema add|list|check|types`: the schema registry of a running hub from the shell.
 * `check` decides locally with the hub's own code (the compatibility checker and the Ajv
 * validator of `@herald/hub`) over the versions the hub has, so it says exactly what the hub
 * would answer without changing anything.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { createSchemaRegistry, SCHEMA_COMPATIBILITIES, type SchemaHistory } from '@herald/hub'
import { isHeraldError } from '@herald/protocol'
import type { SchemaVersion } from '@herald/store'
import { createMemorySchemaStore } from '@herald/store'
import type { Command } from 'commander'
import { type CliContext, type CommandModule, EXIT, UsageError } from '../command.js'
import { hubUrl } from './hub-url.js'

/** Options every `herald schema` subcommand takes. */
export interface SchemaCommonOptions {
  url?: string
  token?: string
  json?: boolean
}

interface HubAnswer {
  status: number
  body: Record<string, unknown> & {
    error?: {
      code: string
      message: string
      details?: { changes?: { kind: string; path: string; message: string }[] }
    }
  }
}

/** A hub version as `GET /schemas` shows it. */
interface VersionView {
  topic: string
  version: number
  compatibility: SchemaVersion['compatibility']
  registeredAt: string
  schema: unknown
}

class Unreachable extends Error {}

async function request(
  options: SchemaCommonOptions,
  context: CliContext,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<HubAnswer> {
  const base = options.url ?? context.env.HERALD_URL ?? 'http://127.0.0.1:8080'
  const token = options.token ?? context.env.HERALD_TOKEN
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`
  let response: Response
  try {
    response = await fetch(hubUrl(base, path), {
      method: init.method ?? 'GET',
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    })
  } catch (error) {
    if (error instanceof UsageError) throw error
    throw new Unreachable(
      `cannot reach ${base}: ${(error as Error).cause ?? (error as Error).message}`,
    )
  }
  const body = (await response.json().catch(() => ({}))) as HubAnswer['body']
  return { status: response.status, body }
}

async function readJsonFile(file: string, context: CliContext): Promise<unknown> {
  let text: string
  try {
    text = file === '-' ? await readStdin(context.stdin) : await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new UsageError(`${file} is not JSON: ${(error as Error).message}`)
  }
}

async function readStdin(input: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of input) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

function compatibilityOf(value: string | undefined): string {
  const mode = value ?? 'backward'
  if (!SCHEMA_COMPATIBILITIES.includes(mode as SchemaVersion['compatibility'])) {
    throw new UsageError(
      `--compatibility: one of ${SCHEMA_COMPATIBILITIES.join(', ')}, got ${JSON.stringify(mode)}`,
    )
  }
  return mode
}

function refusal(context: CliContext, what: string, answer: HubAnswer): number {
  const error = answer.body.error
  context.stderr.write(
    `herald schema ${what}: ${answer.status} ${error ? `${error.code}: ${error.message}` : ''}\n`,
  )
  for (const change of error?.details?.changes ?? []) {
    context.stderr.write(`  ${change.kind} at ${change.path || '/'}: ${change.message}\n`)
  }
  return EXIT.failure
}

async function listVersions(
  options: SchemaCommonOptions,
  context: CliContext,
): Promise<VersionView[][]> {
  const answer = await request(options, context, 'schemas')
  if (answer.status !== 200) {
    throw Object.assign(new Error('refused'), { answer })
  }
  return (answer.body.schemas as { versions: VersionView[] }[]).map((s) => s.versions)
}

/** `herald schema add PATTERN FILE`. Resolves to the exit code. */
export async function runSchemaAdd(
  pattern: string,
  file: string,
  options: SchemaCommonOptions & { compatibility?: string },
  context: CliContext,
): Promise<number> {
  const compatibility = compatibilityOf(options.compatibility)
  const schema = await readJsonFile(file, context)
  const answer = await request(options, context, 'schemas', {
    method: 'POST',
    body: { topic: pattern, schema, compatibility },
  })
  if (answer.status !== 200 && answer.status !== 201) return refusal(context, 'add', answer)
  if (options.json === true) context.stdout.write(`${JSON.stringify(answer.body)}\n`)
  else {
    context.stdout.write(
      `${answer.body.topic} version ${answer.body.version}${answer.status === 200 ? ' (unchanged: the latest version already)' : ''}\n`,
    )
  }
  return EXIT.ok
}

/** `herald schema list`. Resolves to the exit code. */
export async function runSchemaList(
  options: SchemaCommonOptions,
  context: CliContext,
): Promise<number> {
  const answer = await request(options, context, 'schemas')
  if (answer.status !== 200) return refusal(context, 'list', answer)
  if (options.json === true) {
    context.stdout.write(`${JSON.stringify(answer.body)}\n`)
    return EXIT.ok
  }
  const schemas = answer.body.schemas as { topic: string; versions: VersionView[] }[]
  if (schemas.length === 0) context.stdout.write('no schemas registered\n')
  for (const { topic, versions } of schemas) {
    context.stdout.write(`${topic}\n`)
    for (const v of versions) {
      context.stdout.write(`  v${v.version}  ${v.compatibility.padEnd(8)}  ${v.registeredAt}\n`)
    }
  }
  return EXIT.ok
}

/** The hub's versions in a local registry: the hub's own checks, run here. */
async function localRegistry(versions: VersionView[][]) {
  const store = createMemorySchemaStore()
  for (const history of versions) {
    for (const v of history) {
      await store.registerSchema(
        { topic: v.topic, schema: JSON.stringify(v.schema), compatibility: v.compatibility },
        v.version - 1,
      )
    }
  }
  return createSchemaRegistry(store)
}

/** `herald schema check PATTERN FILE` or `--data TOPIC FILE`. Resolves to the exit code. */
export async function runSchemaCheck(
  target: string,
  file: string,
  options: SchemaCommonOptions & { compatibility?: string; data?: boolean },
  context: CliContext,
): Promise<number> {
  const compatibility = options.data === true ? 'backward' : compatibilityOf(options.compatibility)
  const value = await readJsonFile(file, context)
  let versions: VersionView[][]
  try {
    versions = await listVersions(options, context)
  } catch (error) {
    const answer = (error as { answer?: HubAnswer }).answer
    if (answer === undefined) throw error
    return refusal(context, 'check', answer)
  }
  const registry = await localRegistry(versions)
  const say = (accepted: boolean, message: string, extra: unknown = {}): number => {
    if (options.json === true) {
      context.stdout.write(`${JSON.stringify({ accepted, message, ...(extra as object) })}\n`)
    } else (accepted ? context.stdout : context.stderr).write(`${message}\n`)
    return accepted ? EXIT.ok : EXIT.failure
  }
  try {
    if (options.data === true) {
      const event = {
        topic: target,
        data: typeof value === 'string' ? value : JSON.stringify(value),
      }
      await registry.validate([event])
      const version = (event as { schemaVersion?: number }).schemaVersion
      return say(
        true,
        version === undefined
          ? `accepted: no schema applies to ${target}`
          : `accepted: valid against version ${version} of the schema for ${target}`,
        { version },
      )
    }
    const result = await registry.register(target, value, compatibility)
    return say(
      true,
      result.created
        ? `accepted: would be version ${result.version} of ${target}`
        : `accepted: the same as version ${result.version} of ${target} (nothing would change)`,
      { version: result.version, created: result.created },
    )
  } catch (error) {
    if (!isHeraldError(error)) throw error
    const details = (
      error as { details?: { changes?: { kind: string; path: string; message: string }[] } }
    ).details
    const lines = (details?.changes ?? []).map(
      (c) => `\n  ${c.kind} at ${c.path || '/'}: ${c.message}`,
    )
    return say(false, `refused: ${error.code}: ${error.message}${lines.join('')}`, {
      code: error.code,
      details,
    })
  }
}

/** A TypeScript identifier for a topic pattern: `orders/*` -> `Orders`, `a/b/**` -> `AB`. */
export function typeNameOf(pattern: string): string {
  const words = pattern
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
  const name = words.join('')
  return name === '' || /^[0-9]/.test(name) ? `Topic${name}` : name
}

/** `herald schema types`. Resolves to the exit code. */
export async function runSchemaTypes(
  options: SchemaCommonOptions & { out?: string },
  context: CliContext,
): Promise<number> {
  const answer = await request(options, context, 'schemas')
  if (answer.status !== 200) return refusal(context, 'types', answer)
  const { compile } = await import('json-schema-to-typescript')
  const histories = answer.body.schemas as unknown as SchemaHistory[]
  const used = new Set<string>()
  const parts: string[] = [
    "/* Generated by `herald schema types` from the hub's schema registry: do not edit. */",
    '',
  ]
  const map: string[] = []
  for (const history of histories) {
    const latest = history.versions.at(-1) as unknown as VersionView
    let name = typeNameOf(history.topic)
    for (let i = 2; used.has(name); i++) name = `${typeNameOf(history.topic)}${i}`
    used.add(name)
    const schema = (
      typeof latest.schema === 'object' ? { ...(latest.schema as object) } : {}
    ) as Record<string, unknown>
    delete schema.title
    delete schema.$id
    const ts = await compile(schema as Parameters<typeof compile>[0], name, {
      bannerComment: `/** Data of topics matching ${JSON.stringify(history.topic)} (schema version ${latest.version}). */`,
      additionalProperties: true,
      strictIndexSignatures: true,
      format: true,
      declareExternallyReferenced: true,
    })
    parts.push(ts.trim(), '')
    map.push(`  ${JSON.stringify(history.topic)}: ${name}`)
  }
  parts.push(
    '/** Every registered topic pattern and the type of its data (latest version). */',
    `export interface HeraldTopicSchemas {${map.length === 0 ? '' : `\n${map.join('\n')}\n`}}`,
    '',
  )
  const text = parts.join('\n')
  if (options.out === undefined) context.stdout.write(text)
  else {
    await writeFile(options.out, text)
    context.stderr.write(
      `herald schema types: ${histories.length} type(s) written to ${options.out}\n`,
    )
  }
  return EXIT.ok
}

/** Runs `run`, mapping usage errors to 2 and an unreachable hub to 1, as `action` does. */
function act<A extends unknown[]>(
  name: string,
  command: Command,
  context: CliContext,
  run: (...args: A) => Promise<number>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let code: number
    try {
      code = await run(...args)
    } catch (error) {
      if (error instanceof Unreachable) {
        context.stderr.write(`herald schema ${name}: ${error.message}\n`)
        code = EXIT.failure
      } else if (error instanceof UsageError) {
        context.stderr.write(
          `herald schema ${name}: ${error.message}\n(run 'herald schema ${name} --help' for its options)\n`,
        )
        code = EXIT.usage
      } else throw error
    }
    void command
    context.result.code = code
  }
}

function common(command: Command): Command {
  return command
    .option(
      '--url <URL>',
      'hub base URL, may include a path (default: http://127.0.0.1:8080) [HERALD_URL]',
    )
    .option('--token <TOKEN>', 'bearer token (registering needs the admin grant) [HERALD_TOKEN]')
    .option('--json', 'print the answer as JSON')
}

/** Registers `herald schema` and its subcommands. */
export const schema: CommandModule = (program, context) => {
  const group = program
    .command('schema')
    .summary('the schema registry: add, list, check, types')
    .description(
      'Typed topics: versioned JSON Schemas per topic pattern on a running hub (docs/schemas.md).\nExit codes: 0 done (check: accepted), 1 refused or the hub unreachable, 2 usage.',
    )
  const add = common(
    group
      .command('add')
      .summary("register the next version of a pattern's schema")
      .description(
        'Registers FILE (a JSON Schema; - reads stdin) as the next version for PATTERN. A breaking change is refused (exit 1) with each change named.',
      )
      .argument('<PATTERN>', 'topic pattern, e.g. orders/*')
      .argument('<FILE>', "JSON Schema file; '-' reads stdin")
      .option('--compatibility <MODE>', 'backward (default), forward, full or none'),
  )
  add.action(
    act('add', add, context, (p: string, f: string, o: SchemaCommonOptions) =>
      runSchemaAdd(p, f, o, context),
    ),
  )
  const list = common(
    group
      .command('list')
      .summary('list every pattern and its versions')
      .description('Lists every registered pattern with its versions.'),
  )
  list.action(act('list', list, context, (o: SchemaCommonOptions) => runSchemaList(o, context)))
  const check = common(
    group
      .command('check')
      .summary('tell whether a file would be accepted')
      .description(
        'Tells, without changing anything, whether the hub would accept FILE: as the next schema version for PATTERN (compatibility and validity), or with --data as the data of an event published to the concrete topic TARGET. Exit 0 accepted, 1 refused, 2 usage.',
      )
      .argument('<TARGET>', 'topic pattern (a schema FILE), or a concrete topic with --data')
      .argument('<FILE>', "JSON file; '-' reads stdin")
      .option('--data', 'FILE is event data to publish to the topic TARGET')
      .option('--compatibility <MODE>', 'backward (default), forward, full or none'),
  )
  check.action(
    act('check', check, context, (t: string, f: string, o: SchemaCommonOptions) =>
      runSchemaCheck(t, f, o, context),
    ),
  )
  const types = common(
    group
      .command('types')
      .summary('write TypeScript types for the registered schemas')
      .description(
        "Writes one TypeScript type per registered pattern (its latest version; json-schema-to-typescript) and HeraldTopicSchemas mapping each pattern to its type, for @herald/client's subscribe<T>().",
      )
      .option('--out <FILE>', 'write to FILE instead of stdout'),
  )
  types.action(act('types', types, context, (o: SchemaCommonOptions) => runSchemaTypes(o, context)))
}
