/**
 * Every `herald serve` setting, once: its type and bounds (a check), its help text and
 * placeholder. The flag (`--max-payload`), the environment variable (`HERALD_MAX_PAYLOAD`)
 * and the config-file key (`maxPayload`, also `max-payload` or `max_payload`) all derive from
 * the key, so help, parsing and docs cannot drift apart. Adding a setting is one entry here.
 *
 * Each check takes what a flag or an environment variable gives (a string) as well as what
 * a JSON, YAML or TOML file gives (a number, a boolean, an array).
 */
import type { TopicRetentionRule } from '@herald/hub'

/** How a setting shows in help and how the CLI parses its flag. */
export interface SettingMeta {
  /** Value placeholder in help (`SECONDS`); absent for a boolean switch. */
  readonly placeholder?: string
  /** The flag may be given several times (and the env var is a separated list). */
  readonly repeatable?: boolean
  readonly help: string
  /** The default, as help shows it. */
  readonly default?: string
  /** A switch that defaults to on: help for its `--no-...` form, which turns it off. */
  readonly negatable?: string
  /** What a valid value looks like, for error messages. */
  readonly expected: string
}

/**
 * What a setting's check made of a value: the value, or a refusal with a message of its own
 * (absent: the caller says `expected <meta.expected>, got <the value>`).
 */
export type Checked<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message?: string }

/** One setting: how it checks and converts a value, and how it shows in help. */
export interface Setting<T> {
  readonly meta: SettingMeta
  /** Takes what a flag or an environment variable gives (a string) or what a file gives. */
  check(raw: unknown): Checked<T>
}

/** The type of a setting's value. */
export type SettingValue<S> = S extends Setting<infer T> ? T : never

// Hand-written rather than a schema library: these few shapes are all serve needs, and zod's
// module graph cost every `herald serve` about 3.7 MiB of RSS for the process's whole life
// (docs/benchmarks.md, 2026-12-06, third session).
const ok = <T>(value: T): Checked<T> => ({ ok: true, value })
const refused: Checked<never> = { ok: false }

function setting<T>(check: (raw: unknown) => Checked<T>, meta: SettingMeta): Setting<T> {
  return { meta: { ...meta }, check }
}

const fromText = (raw: unknown, parse: (text: string) => unknown): unknown =>
  typeof raw === 'string' ? parse(raw.trim()) : raw

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (raw: unknown): Checked<number> => {
    const v = fromText(raw, (t) => (/^-?\d+$/.test(t) ? Number(t) : t))
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
      ? ok(v)
      : refused
  }

const number =
  (min: number) =>
  (raw: unknown): Checked<number> => {
    const v = fromText(raw, (t) => (/^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t))
    return typeof v === 'number' && Number.isFinite(v) && v >= min ? ok(v) : refused
  }

const text =
  () =>
  (raw: unknown): Checked<string> =>
    typeof raw === 'string' && raw.length >= 1 ? ok(raw) : refused

const boolean =
  () =>
  (raw: unknown): Checked<boolean> => {
    const v = fromText(raw, (t) =>
      /^(1|true|yes|on)$/i.test(t) ? true : /^(0|false|no|off|)$/i.test(t) ? false : t,
    )
    return typeof v === 'boolean' ? ok(v) : refused
  }

const list =
  (separator: string) =>
  (raw: unknown): Checked<string[]> => {
    const items = typeof raw === 'string' ? raw.split(separator) : raw
    if (!Array.isArray(items) || !items.every((v) => typeof v === 'string')) return refused
    return ok(items.map((v: string) => v.trim()).filter((v) => v !== ''))
  }

const oneOf =
  <const T extends string>(values: readonly T[]) =>
  (raw: unknown): Checked<T> =>
    values.includes(raw as T) ? ok(raw as T) : refused

/**
 * `PATTERN=EVENTS[,SECONDS]` (either bound may be empty, not both). The pattern's syntax is
 * checked by the hub's topic rules when the configuration is resolved.
 */
const retentionRules =
  () =>
  (raw: unknown): Checked<TopicRetentionRule[]> => {
    const listed = list(';')(raw)
    if (!listed.ok) return listed
    const rules: TopicRetentionRule[] = []
    for (const item of listed.value) {
      const eq = item.lastIndexOf('=')
      const match = eq === -1 ? null : /^(\d*)(?:,(\d+(?:\.\d+)?))?$/.exec(item.slice(eq + 1))
      if (match === null || (match[1] === '' && match[2] === undefined)) {
        return {
          ok: false,
          message: `expected PATTERN=EVENTS[,SECONDS] (e.g. metrics/**=1000), got ${JSON.stringify(item)}`,
        }
      }
      const events = match[1] === '' ? undefined : Number(match[1])
      const seconds = match[2] === undefined ? undefined : Number(match[2])
      if (events === 0 || seconds === 0) {
        return { ok: false, message: `bounds must be positive in ${JSON.stringify(item)}` }
      }
      rules.push({
        pattern: item.slice(0, eq),
        ...(events === undefined ? {} : { maxEvents: events }),
        ...(seconds === undefined ? {} : { maxAgeMs: Math.round(seconds * 1000) }),
      })
    }
    return ok(rules)
  }

/** Log levels, in the order pino ranks them. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** The settings of `herald serve`; optional ones have no default. */
export const serveSettings = {
  port: setting(integer(0, 65535), {
    placeholder: 'PORT',
    help: 'TCP port (0: any free port)',
    default: '8080',
    expected: 'an integer >= 0 and <= 65535',
  }),
  host: setting(text(), {
    placeholder: 'HOST',
    help: 'interface to listen on',
    default: '127.0.0.1',
    expected: 'a host name or address',
  }),
  store: setting(text(), {
    placeholder: 'STORE',
    help: 'event log: memory | sqlite:PATH | redis://HOST:PORT | nats://HOST:PORT (?namespace=NAME)',
    default: 'sqlite:./herald-data/herald.db',
    expected: 'memory, sqlite:PATH, redis://... or nats://...',
  }),
  jwtSecret: setting(text(), {
    placeholder: 'SECRET',
    help: 'HS256/384/512 secret (32+ bytes): turns auth on',
    expected: 'a non-empty secret',
  }),
  jwtPublicKey: setting(text(), {
    placeholder: 'KEY',
    help: 'RS/PS/ES/EdDSA public key: PEM or JWK text, or a file path',
    expected: 'a PEM or JWK key, or a file path',
  }),
  jwksUrl: setting(text(), {
    placeholder: 'URL',
    help: 'JSON Web Key Set URL',
    expected: 'a URL',
  }),
  jwtAudience: setting(text(), {
    placeholder: 'AUD',
    help: 'required aud claim',
    expected: 'a non-empty string',
  }),
  jwtIssuer: setting(text(), {
    placeholder: 'ISS',
    help: 'required iss claim',
    expected: 'a non-empty string',
  }),
  denyAnonymous: setting(boolean(), {
    help: 'refuse subscribers without a token (when auth is on)',
    expected: 'true or false',
  }),
  queryToken: setting(boolean(), {
    help: 'also accept ?authorization=TOKEN',
    expected: 'true or false',
  }),
  mercureSubscriptions: setting(boolean(), {
    help: 'Mercure active subscriptions: join/leave updates and /.well-known/mercure/subscriptions',
    expected: 'true or false',
  }),
  tokenCache: setting(integer(0), {
    placeholder: 'N',
    help: 'verified tokens remembered until their exp (0: verify every request)',
    default: '10000',
    expected: 'an integer >= 0',
  }),
  heartbeat: setting(number(0), {
    placeholder: 'SECONDS',
    help: 'idle seconds before a heartbeat comment (0: off)',
    default: '15',
    expected: 'a number >= 0',
  }),
  corsOrigin: setting(list(','), {
    placeholder: 'ORIGIN',
    repeatable: true,
    help: "allowed browser origin, e.g. http://localhost:5173 or '*' (repeatable; env: comma-separated)",
    expected: 'a list of origins',
  }),
  maxPayload: setting(integer(1), {
    placeholder: 'BYTES',
    help: 'largest event data in bytes',
    default: '1048576',
    expected: 'an integer >= 1',
  }),
  maxBlob: setting(integer(1), {
    placeholder: 'BYTES',
    help: 'largest binary publish (a blob: POST /publish?topic=T with a non-JSON body) in bytes',
    default: '8388608',
    expected: 'an integer >= 1',
  }),
  blobInline: setting(integer(0), {
    placeholder: 'BYTES',
    help: 'blobs up to this size also travel base64 in their event (0: never)',
    default: '0',
    expected: 'an integer >= 0',
  }),
  blobSweep: setting(number(0.01), {
    placeholder: 'SECONDS',
    help: 'how often blobs whose events left the log are deleted',
    default: '60',
    expected: 'a number >= 0.01',
  }),
  bodyTimeout: setting(number(0), {
    placeholder: 'SECONDS',
    help: 'seconds for a publish body to arrive in full (408 beyond; 0: none)',
    default: '30',
    expected: 'a number >= 0',
  }),
  headTimeout: setting(number(0.001), {
    placeholder: 'SECONDS',
    help: 'seconds a connection may take to send a request head (closed beyond)',
    default: '10',
    expected: 'a number > 0',
  }),
  publishRate: setting(number(0), {
    placeholder: 'N',
    help: 'publish requests/s per token or IP (0: unlimited)',
    default: '1000',
    expected: 'a number >= 0',
  }),
  publishBurst: setting(integer(1), {
    placeholder: 'N',
    help: 'publish burst',
    default: '2 x rate',
    expected: 'an integer >= 1',
  }),
  maxDeliveryLag: setting(number(0), {
    placeholder: 'SECONDS',
    help: "refuse publishes (503 HERALD_DELIVERY_LAGGING, Retry-After) while this node's delivery lags more (0: off)",
    default: '0',
    expected: 'a number >= 0',
  }),
  conflate: setting(list(','), {
    placeholder: 'PATTERN',
    repeatable: true,
    help: "topic pattern whose superseded events live subscribers may skip when delivery is behind, e.g. 'ticker/*' (repeatable; env: comma-separated)",
    expected: 'a list of topic patterns',
  }),
  retentionEvents: setting(integer(1), {
    placeholder: 'N',
    help: 'events kept',
    default: '1000000 (sqlite), 100000 (memory)',
    expected: 'an integer >= 1',
  }),
  retentionAge: setting(number(0), {
    placeholder: 'SECONDS',
    help: 'seconds events are kept',
    default: '7 days (sqlite), 1 day (memory)',
    expected: 'a number >= 0',
  }),
  retentionTopic: setting(retentionRules(), {
    placeholder: 'RULE',
    repeatable: true,
    help: "per-topic bound PATTERN=EVENTS[,SECONDS], e.g. 'metrics/**=1000' (repeatable; env: ';'-separated)",
    expected: 'a list of PATTERN=EVENTS[,SECONDS] rules',
  }),
  maxConnections: setting(integer(1), {
    placeholder: 'N',
    help: 'open streams cap (503 beyond)',
    expected: 'an integer >= 1',
  }),
  maxConnectionsPerIp: setting(integer(1), {
    placeholder: 'N',
    help: 'open streams per IP (429 beyond)',
    expected: 'an integer >= 1',
  }),
  trustProxy: setting(boolean(), {
    help: 'client IP from X-Forwarded-For',
    expected: 'true or false',
  }),
  drainTimeout: setting(number(0), {
    placeholder: 'SECONDS',
    help: 'seconds to drain streams on SIGTERM/SIGINT (a second signal: now)',
    default: '10',
    expected: 'a number >= 0',
  }),
  logLevel: setting(oneOf(LOG_LEVELS), {
    placeholder: 'LEVEL',
    help: LOG_LEVELS.join(' | '),
    default: 'info',
    expected: `one of ${LOG_LEVELS.join(', ')}`,
  }),
  replayPageSize: setting(integer(1), {
    placeholder: 'N',
    help: 'events per replay read (the hub yields between reads)',
    default: '500',
    expected: 'an integer >= 1',
  }),
  tlsCert: setting(text(), {
    placeholder: 'PATH',
    help: 'PEM certificate file: serve HTTPS with HTTP/2 (with --tls-key)',
    expected: 'a file path',
  }),
  tlsKey: setting(text(), {
    placeholder: 'PATH',
    help: 'PEM private key file for --tls-cert',
    expected: 'a file path',
  }),
  leanStreams: setting(boolean(), {
    help: 'serve plain HTTP/1.1 streams on the lean socket path, less memory per stream (TLS and HTTP/2 stay on node:http)',
    default: 'true',
    negatable: 'serve every stream through node:http (the lean path off)',
    expected: 'true or false',
  }),
  leanPublish: setting(boolean(), {
    help: 'answer plain POST /publish on the lean HTTP/1.1 socket path too (faster; with --lean-streams, plain HTTP only: TLS and HTTP/2 stay on node:http)',
    default: 'true',
    negatable: 'answer every publish through node:http (the lean publish path off)',
    expected: 'true or false',
  }),
  adminToken: setting(text(), {
    placeholder: 'SECRET',
    help: 'secret (16+ chars) for the dashboard and /metrics, as Authorization: Bearer',
    expected: 'a non-empty secret',
  }),
  workers: setting(text(), {
    placeholder: 'N',
    help: 'worker processes sharing the port and the log (node:cluster): N, or auto for one per CPU core',
    expected: 'a positive integer or auto',
  }),
} satisfies Record<string, Setting<unknown>>

/** A setting's key (`maxPayload`). */
export type SettingKey = keyof typeof serveSettings

/** The defaults of the settings that have one. */
export const serveDefaults = {
  port: 8080,
  host: '127.0.0.1',
  store: 'sqlite:./herald-data/herald.db',
  denyAnonymous: false,
  queryToken: false,
  mercureSubscriptions: false,
  tokenCache: 10_000,
  heartbeat: 15,
  corsOrigin: [],
  maxPayload: 1024 * 1024,
  maxBlob: 8 * 1024 * 1024,
  blobInline: 0,
  blobSweep: 60,
  bodyTimeout: 30,
  headTimeout: 10,
  publishRate: 1000,
  maxDeliveryLag: 0,
  conflate: [],
  retentionTopic: [],
  trustProxy: false,
  drainTimeout: 10,
  logLevel: 'info',
  replayPageSize: 500,
  leanStreams: true,
  leanPublish: true,
  workers: '1',
} satisfies Partial<{ [K in SettingKey]: SettingValue<(typeof serveSettings)[K]> }>

type Defaulted = keyof typeof serveDefaults

/** The resolved `herald serve` configuration. */
export type ServeConfig = {
  [K in Defaulted]: SettingValue<(typeof serveSettings)[K]>
} & {
  [K in Exclude<SettingKey, Defaulted>]: SettingValue<(typeof serveSettings)[K]> | undefined
}

/** `maxPayload` -> `max-payload`. */
export function flagOf(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** `maxPayload` -> `HERALD_MAX_PAYLOAD`. */
export function envOf(key: string): string {
  return `HERALD_${flagOf(key).replaceAll('-', '_').toUpperCase()}`
}

/** A setting's help metadata. */
export function metaOf(key: SettingKey): SettingMeta {
  return serveSettings[key].meta
}

/** Every setting key, in help order. */
export const settingKeys = Object.keys(serveSettings) as SettingKey[]
