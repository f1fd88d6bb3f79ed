/**
 * `herald serve` configuration: defaults, then an optional config file (JSON, YAML or TOML),
 * then `HERALD_*` environment variables, then flags (each later source wins). Every value is
 * checked by its check in serve-settings.ts, with a message naming the setting and the
 * source it came from.
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { HeraldError } from '@herald/protocol'
import { assertValidTopicPattern } from '@herald/store'
import { closest } from '../suggest.js'
import {
  envOf,
  flagOf,
  metaOf,
  type ServeConfig,
  type SettingKey,
  serveDefaults,
  serveSettings,
  settingKeys,
} from './serve-settings.js'

export type { ServeConfig } from './serve-settings.js'

/** Flag values as the command line gave them, by setting key. */
export type FlagValues = Partial<Record<SettingKey, string | boolean | string[]>>

/** The resolved configuration and what the operator should be told about it. */
export interface ResolvedServeConfig {
  readonly config: ServeConfig
  /** Non-fatal findings (an unknown `HERALD_*` variable): log them as warnings. */
  readonly warnings: string[]
}

/** Environment variables the other commands read; not serve settings, not typos. */
// HERALD_CLUSTER_WORKER: set by `--workers` on the processes it forks (serve-cluster.ts).
const OTHER_ENV = new Set([
  'HERALD_CONFIG',
  'HERALD_URL',
  'HERALD_TOKEN',
  'HERALD_CLUSTER_WORKER',
  // Read by the `herald` executable (bin/herald.js), not by serve.
  'HERALD_NODE_FLAGS',
  // Read by serve's memory reducer (memory-reducer.ts): an environment switch, not a setting.
  'HERALD_MEMORY_REDUCER',
])

function bad(source: string, message: string): HeraldError {
  return new HeraldError('HERALD_INVALID_CONFIG', `${source}: ${message}`)
}

/** `max-payload`, `max_payload`, `MaxPayload` -> the key `maxPayload`, or undefined. */
function keyOf(name: string): SettingKey | undefined {
  const folded = name.replace(/[-_]/g, '').toLowerCase()
  return settingKeys.find((key) => key.toLowerCase() === folded)
}

/**
 * Reads a config file by its extension: `.json`, `.yaml`/`.yml` or `.toml` (the YAML and
 * TOML parsers load only for such a file).
 */
async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  const source = `config file ${path}`
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw bad(source, (error as Error).message)
  }
  const ext = extname(path).toLowerCase()
  let file: unknown
  try {
    if (ext === '.yaml' || ext === '.yml') file = (await import('yaml')).parse(text)
    else if (ext === '.toml') file = (await import('smol-toml')).parse(text)
    else if (ext === '.json' || ext === '') file = JSON.parse(text)
    else throw new Error(`unknown format ${ext}: use .json, .yaml, .yml or .toml`)
  } catch (error) {
    throw bad(source, (error as Error).message)
  }
  if (file === null || typeof file !== 'object' || Array.isArray(file)) {
    throw bad(source, 'expected an object (a table / mapping) of settings')
  }
  return file as Record<string, unknown>
}

function check(key: SettingKey, raw: unknown, source: string): unknown {
  const meta = metaOf(key)
  const result = serveSettings[key].check(raw)
  if (!result.ok) {
    throw bad(source, result.message ?? `expected ${meta.expected}, got ${JSON.stringify(raw)}`)
  }
  return result.value
}

/**
 * Resolves the configuration from a config file (`configPath`), `env` and `flags`.
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG` naming the setting and its source.
 */
export async function resolveServeConfig(
  flags: FlagValues,
  env: NodeJS.ProcessEnv,
  configPath: string | undefined,
): Promise<ResolvedServeConfig> {
  const values: Record<string, unknown> = { ...serveDefaults }
  const sources: Partial<Record<SettingKey, string>> = {}
  const warnings: string[] = []
  const set = (key: SettingKey, raw: unknown, source: string): void => {
    values[key] = check(key, raw, source)
    sources[key] = source
  }
  if (configPath !== undefined) {
    for (const [name, raw] of Object.entries(await readConfigFile(configPath))) {
      const key = keyOf(name)
      if (key === undefined) {
        const hint = closest(name, settingKeys)
        throw bad(
          `config file ${configPath}`,
          `unknown setting ${JSON.stringify(name)}${hint === undefined ? '' : ` (did you mean ${JSON.stringify(hint)}?)`}; the settings are those of 'herald serve --help', as camelCase or kebab-case keys`,
        )
      }
      set(key, raw, `config file ${configPath}: ${name}`)
    }
  }
  const envNames = new Map(settingKeys.map((key) => [envOf(key), key]))
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('HERALD_') || raw === undefined) continue
    const key = envNames.get(name)
    if (key === undefined) {
      if (!OTHER_ENV.has(name)) {
        const hint = closest(name, [...envNames.keys()])
        warnings.push(
          `ignoring unknown environment variable ${name}${hint === undefined ? '' : ` (did you mean ${hint}?)`}`,
        )
      }
      continue
    }
    if (raw !== '') set(key, raw, name)
  }
  for (const key of settingKeys) {
    const raw = flags[key]
    if (raw !== undefined) set(key, raw, `--${flagOf(key)}`)
  }
  const config = values as ServeConfig
  for (const rule of config.retentionTopic) {
    try {
      assertValidTopicPattern(rule.pattern)
    } catch (error) {
      throw bad(sources.retentionTopic ?? '--retention-topic', (error as Error).message)
    }
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw bad('--tls-cert/--tls-key', 'give both, or neither')
  }
  return { config, warnings }
}
