/**
 * `herald serve` configuration: defaults, then an optional JSON config file, then
 * `HERALD_*` environment variables, then flags (each later source wins). Every value is
 * validated with a message naming the setting and where it came from.
 */
import { readFileSync } from 'node:fs'
import type { TopicRetentionRule } from '@herald/hub'
import { assertValidTopicPattern } from '@herald/hub'
import { HeraldError } from '@herald/protocol'

/** The resolved `herald serve` configuration. */
export interface ServeConfig {
  port: number
  host: string
  store: string
  jwtSecret: string | undefined
  jwtPublicKey: string | undefined
  jwksUrl: string | undefined
  jwtAudience: string | undefined
  jwtIssuer: string | undefined
  denyAnonymous: boolean
  queryToken: boolean
  mercureSubscriptions: boolean
  tokenCache: number
  heartbeat: number
  corsOrigin: string[]
  maxPayload: number
  bodyTimeout: number
  headTimeout: number
  publishRate: number
  publishBurst: number | undefined
  retentionEvents: number | undefined
  retentionAge: number | undefined
  retentionTopic: TopicRetentionRule[]
  maxConnections: number | undefined
  maxConnectionsPerIp: number | undefined
  trustProxy: boolean
  drainTimeout: number
  logLevel: string
  replayPageSize: number
  tlsCert: string | undefined
  tlsKey: string | undefined
  leanStreams: boolean
  adminToken: string | undefined
}

type Kind = 'int' | 'string' | 'bool' | 'list' | 'number' | 'rules'

interface Setting {
  key: keyof ServeConfig
  flag: string
  env: string
  kind: Kind
  min?: number
  help: string
}

/** Every setting, with its flag, environment variable and type. */
export const SETTINGS: readonly Setting[] = [
  {
    key: 'port',
    flag: 'port',
    env: 'HERALD_PORT',
    kind: 'int',
    min: 0,
    help: 'TCP port (0: any free port). Default 8080',
  },
  {
    key: 'host',
    flag: 'host',
    env: 'HERALD_HOST',
    kind: 'string',
    help: 'interface to listen on. Default 127.0.0.1',
  },
  {
    key: 'store',
    flag: 'store',
    env: 'HERALD_STORE',
    kind: 'string',
    help: 'memory | sqlite:PATH. Default sqlite:./herald-data/herald.db',
  },
  {
    key: 'jwtSecret',
    flag: 'jwt-secret',
    env: 'HERALD_JWT_SECRET',
    kind: 'string',
    help: 'HS256/384/512 secret: turns auth on',
  },
  {
    key: 'jwtPublicKey',
    flag: 'jwt-public-key',
    env: 'HERALD_JWT_PUBLIC_KEY',
    kind: 'string',
    help: 'RS/PS/ES/EdDSA public key: PEM or JWK text, or a file path',
  },
  {
    key: 'jwksUrl',
    flag: 'jwks-url',
    env: 'HERALD_JWKS_URL',
    kind: 'string',
    help: 'JSON Web Key Set URL',
  },
  {
    key: 'jwtAudience',
    flag: 'jwt-audience',
    env: 'HERALD_JWT_AUDIENCE',
    kind: 'string',
    help: 'required aud claim',
  },
  {
    key: 'jwtIssuer',
    flag: 'jwt-issuer',
    env: 'HERALD_JWT_ISSUER',
    kind: 'string',
    help: 'required iss claim',
  },
  {
    key: 'denyAnonymous',
    flag: 'deny-anonymous',
    env: 'HERALD_DENY_ANONYMOUS',
    kind: 'bool',
    help: 'refuse subscribers without a token (when auth is on)',
  },
  {
    key: 'queryToken',
    flag: 'query-token',
    env: 'HERALD_QUERY_TOKEN',
    kind: 'bool',
    help: 'also accept ?authorization=TOKEN',
  },
  {
    key: 'mercureSubscriptions',
    flag: 'mercure-subscriptions',
    env: 'HERALD_MERCURE_SUBSCRIPTIONS',
    kind: 'bool',
    help: 'Mercure active subscriptions: join/leave updates and /.well-known/mercure/subscriptions',
  },
  {
    key: 'tokenCache',
    flag: 'token-cache',
    env: 'HERALD_TOKEN_CACHE',
    kind: 'int',
    min: 0,
    help: 'verified tokens remembered until their exp (0: verify every request). Default 10000',
  },
  {
    key: 'heartbeat',
    flag: 'heartbeat',
    env: 'HERALD_HEARTBEAT',
    kind: 'number',
    min: 0,
    help: 'idle seconds before a heartbeat comment (0: off). Default 15',
  },
  {
    key: 'corsOrigin',
    flag: 'cors-origin',
    env: 'HERALD_CORS_ORIGIN',
    kind: 'list',
    help: 'allowed browser origin (repeatable; env: comma-separated)',
  },
  {
    key: 'maxPayload',
    flag: 'max-payload',
    env: 'HERALD_MAX_PAYLOAD',
    kind: 'int',
    min: 1,
    help: 'largest event data in bytes. Default 1048576',
  },
  {
    key: 'bodyTimeout',
    flag: 'body-timeout',
    env: 'HERALD_BODY_TIMEOUT',
    kind: 'number',
    min: 0,
    help: 'seconds for a publish body to arrive in full (408 beyond; 0: none). Default 30',
  },
  {
    key: 'headTimeout',
    flag: 'head-timeout',
    env: 'HERALD_HEAD_TIMEOUT',
    kind: 'number',
    min: 0.001,
    help: 'seconds a connection may take to send a request head (closed beyond). Default 10',
  },
  {
    key: 'publishRate',
    flag: 'publish-rate',
    env: 'HERALD_PUBLISH_RATE',
    kind: 'number',
    min: 0,
    help: 'publish requests/s per token or IP (0: unlimited). Default 1000',
  },
  {
    key: 'publishBurst',
    flag: 'publish-burst',
    env: 'HERALD_PUBLISH_BURST',
    kind: 'int',
    min: 1,
    help: 'publish burst. Default 2 x rate',
  },
  {
    key: 'retentionEvents',
    flag: 'retention-events',
    env: 'HERALD_RETENTION_EVENTS',
    kind: 'int',
    min: 1,
    help: 'events kept. Default 1000000 (sqlite), 100000 (memory)',
  },
  {
    key: 'retentionAge',
    flag: 'retention-age',
    env: 'HERALD_RETENTION_AGE',
    kind: 'number',
    min: 0,
    help: 'seconds events are kept. Default 7 days (sqlite), 1 day (memory)',
  },
  {
    key: 'retentionTopic',
    flag: 'retention-topic',
    env: 'HERALD_RETENTION_TOPIC',
    kind: 'rules',
    help: "per-topic bound PATTERN=EVENTS[,SECONDS], e.g. 'metrics/**=1000' (repeatable; env: ';'-separated)",
  },
  {
    key: 'maxConnections',
    flag: 'max-connections',
    env: 'HERALD_MAX_CONNECTIONS',
    kind: 'int',
    min: 1,
    help: 'open streams cap (503 beyond)',
  },
  {
    key: 'maxConnectionsPerIp',
    flag: 'max-connections-per-ip',
    env: 'HERALD_MAX_CONNECTIONS_PER_IP',
    kind: 'int',
    min: 1,
    help: 'open streams per IP (429 beyond)',
  },
  {
    key: 'trustProxy',
    flag: 'trust-proxy',
    env: 'HERALD_TRUST_PROXY',
    kind: 'bool',
    help: 'client IP from X-Forwarded-For',
  },
  {
    key: 'drainTimeout',
    flag: 'drain-timeout',
    env: 'HERALD_DRAIN_TIMEOUT',
    kind: 'number',
    min: 0,
    help: 'seconds to drain streams on SIGTERM. Default 10',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'HERALD_LOG_LEVEL',
    kind: 'string',
    help: 'trace|debug|info|warn|error|silent. Default info',
  },
  {
    key: 'replayPageSize',
    flag: 'replay-page-size',
    env: 'HERALD_REPLAY_PAGE_SIZE',
    kind: 'int',
    min: 1,
    help: 'events per replay read (the hub yields between reads). Default 500',
  },
  {
    key: 'tlsCert',
    flag: 'tls-cert',
    env: 'HERALD_TLS_CERT',
    kind: 'string',
    help: 'PEM certificate file: serve HTTPS with HTTP/2 (with --tls-key)',
  },
  {
    key: 'tlsKey',
    flag: 'tls-key',
    env: 'HERALD_TLS_KEY',
    kind: 'string',
    help: 'PEM private key file for --tls-cert',
  },
  {
    key: 'leanStreams',
    flag: 'lean-streams',
    env: 'HERALD_LEAN_STREAMS',
    kind: 'bool',
    help: 'serve streams on the lean HTTP/1.1 path (less memory per stream; not with TLS)',
  },
  {
    key: 'adminToken',
    flag: 'admin-token',
    env: 'HERALD_ADMIN_TOKEN',
    kind: 'string',
    help: 'secret (16+ chars) for the dashboard and /metrics, as Authorization: Bearer',
  },
]

const DEFAULTS: ServeConfig = {
  port: 8080,
  host: '127.0.0.1',
  store: 'sqlite:./herald-data/herald.db',
  jwtSecret: undefined,
  jwtPublicKey: undefined,
  jwksUrl: undefined,
  jwtAudience: undefined,
  jwtIssuer: undefined,
  denyAnonymous: false,
  queryToken: false,
  mercureSubscriptions: false,
  tokenCache: 10_000,
  heartbeat: 15,
  corsOrigin: [],
  maxPayload: 1024 * 1024,
  bodyTimeout: 30,
  headTimeout: 10,
  publishRate: 1000,
  publishBurst: undefined,
  retentionEvents: undefined,
  retentionAge: undefined,
  retentionTopic: [],
  maxConnections: undefined,
  maxConnectionsPerIp: undefined,
  trustProxy: false,
  drainTimeout: 10,
  logLevel: 'info',
  replayPageSize: 500,
  tlsCert: undefined,
  tlsKey: undefined,
  leanStreams: false,
  adminToken: undefined,
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

function bad(source: string, message: string): HeraldError {
  return new HeraldError('HERALD_INVALID_CONFIG', `${source}: ${message}`)
}

/** Parses `PATTERN=EVENTS[,SECONDS]` (either bound may be empty, not both). */
function parseRule(text: string, source: string): TopicRetentionRule {
  const eq = text.lastIndexOf('=')
  const match = eq === -1 ? null : /^(\d*)(?:,(\d+(?:\.\d+)?))?$/.exec(text.slice(eq + 1))
  if (match === null || (match[1] === '' && match[2] === undefined)) {
    throw bad(
      source,
      `expected PATTERN=EVENTS[,SECONDS] (e.g. metrics/**=1000), got ${JSON.stringify(text)}`,
    )
  }
  const pattern = text.slice(0, eq)
  try {
    assertValidTopicPattern(pattern)
  } catch (error) {
    throw bad(source, (error as Error).message)
  }
  const events = match[1] === '' ? undefined : Number(match[1])
  const seconds = match[2] === undefined ? undefined : Number(match[2])
  if (events === 0 || seconds === 0)
    throw bad(source, `bounds must be positive in ${JSON.stringify(text)}`)
  return {
    pattern,
    ...(events === undefined ? {} : { maxEvents: events }),
    ...(seconds === undefined ? {} : { maxAgeMs: Math.round(seconds * 1000) }),
  }
}

function coerce(setting: Setting, raw: unknown, source: string): unknown {
  switch (setting.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') throw bad(source, 'expected a non-empty string')
      return raw
    case 'bool':
      if (typeof raw === 'boolean') return raw
      if (typeof raw === 'string' && /^(1|true|yes|on)$/i.test(raw)) return true
      if (typeof raw === 'string' && /^(0|false|no|off|)$/i.test(raw)) return false
      throw bad(source, `expected true or false, got ${JSON.stringify(raw)}`)
    case 'rules': {
      const list = typeof raw === 'string' ? raw.split(';') : raw
      if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) {
        throw bad(source, 'expected a list of PATTERN=EVENTS[,SECONDS] strings')
      }
      return list
        .filter((v: string) => v.trim() !== '')
        .map((v: string) => parseRule(v.trim(), source))
    }
    case 'list': {
      const list = typeof raw === 'string' ? raw.split(',') : raw
      if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) {
        throw bad(source, 'expected a list of strings')
      }
      return list.map((v: string) => v.trim()).filter((v: string) => v !== '')
    }
    case 'int':
    case 'number': {
      const n =
        typeof raw === 'number'
          ? raw
          : typeof raw === 'string' && raw.trim() !== ''
            ? Number(raw)
            : Number.NaN
      const ok = setting.kind === 'int' ? Number.isSafeInteger(n) : Number.isFinite(n)
      if (!ok || n < (setting.min ?? Number.NEGATIVE_INFINITY)) {
        const what = setting.kind === 'int' ? 'an integer' : 'a number'
        throw bad(source, `expected ${what} >= ${setting.min ?? 0}, got ${JSON.stringify(raw)}`)
      }
      return n
    }
  }
}

/** Flag values as `parseArgs` returns them. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>

/**
 * Resolves the configuration from a config file (`configPath`), `env` and `flags`.
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG` naming the setting and its source.
 */
export function resolveServeConfig(
  flags: FlagValues,
  env: NodeJS.ProcessEnv,
  configPath: string | undefined,
): ServeConfig {
  const config: Record<string, unknown> = { ...DEFAULTS }
  if (configPath !== undefined) {
    let file: unknown
    try {
      file = JSON.parse(readFileSync(configPath, 'utf8'))
    } catch (error) {
      throw bad(`config file ${configPath}`, (error as Error).message)
    }
    if (file === null || typeof file !== 'object' || Array.isArray(file)) {
      throw bad(`config file ${configPath}`, 'expected a JSON object')
    }
    for (const [key, value] of Object.entries(file)) {
      const setting = SETTINGS.find((s) => s.key === key)
      if (setting === undefined) {
        const known = SETTINGS.map((s) => s.key).join(', ')
        throw bad(
          `config file ${configPath}`,
          `unknown setting ${JSON.stringify(key)} (known: ${known})`,
        )
      }
      config[key] = coerce(setting, value, `config file ${configPath}: ${key}`)
    }
  }
  for (const setting of SETTINGS) {
    const raw = env[setting.env]
    if (raw !== undefined && raw !== '') config[setting.key] = coerce(setting, raw, setting.env)
  }
  for (const setting of SETTINGS) {
    const raw = flags[setting.flag]
    if (raw === undefined) continue
    config[setting.key] = coerce(setting, raw, `--${setting.flag}`)
  }
  const resolved = config as unknown as ServeConfig
  if (!LOG_LEVELS.includes(resolved.logLevel)) {
    throw bad('log level', `expected one of ${LOG_LEVELS.join(', ')}, got ${resolved.logLevel}`)
  }
  if (resolved.port > 65535) throw bad('port', `expected 0..65535, got ${resolved.port}`)
  return resolved
}
