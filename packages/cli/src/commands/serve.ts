/**
 * `herald serve`: runs the hub on node:http with the embedded SQLite log (or memory),
 * prints `herald listening on http://HOST:PORT`, and drains on SIGTERM/SIGINT (exit 0).
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import type { EventStore, RetentionOptions } from '@herald/hub'
import { createHub } from '@herald/hub'
import { HeraldError, isHeraldError } from '@herald/protocol'
import pino from 'pino'
import { loadDashboardAssets } from './dashboard-assets.js'
import type { FlagValues, ServeConfig } from './serve-config.js'
import { resolveServeConfig, SETTINGS } from './serve-config.js'
import type { Listener } from './serve-listener.js'
import { createListener } from './serve-listener.js'
import type { OpenedStore } from './serve-store.js'
import { openStore } from './serve-store.js'

export const serveUsage = `Usage: herald serve [options]

Runs the Herald hub. Subscribe: GET /events?topic=T (repeatable; Last-Event-ID resumes).
Publish: POST /publish {"topic","data"} or a Mercure form POST to /.well-known/mercure.

Options (each also as a HERALD_* environment variable, or a key of the --config JSON file):
${SETTINGS.map((s) => `  --${s.flag.padEnd(24)} ${s.help} [${s.env}]`).join('\n')}
  --config PATH              JSON file with any of the settings above (camelCase keys) [HERALD_CONFIG]
  -h, --help                 this help`

function readKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const text = value.trim()
  if (text.startsWith('-----BEGIN') || text.startsWith('{')) return text
  try {
    return readFileSync(text, 'utf8')
  } catch (error) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `--jwt-public-key: neither a PEM/JWK key nor a readable file: ${(error as Error).message}`,
    )
  }
}

function createLogger(level: string): pino.Logger {
  if (process.stderr.isTTY) {
    return pino({ level, transport: { target: 'pino-pretty', options: { destination: 2 } } })
  }
  return pino({ level }, pino.destination(2))
}

/** Runs `herald serve`. Resolves to the exit code once the hub has shut down. */
export async function runServe(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  // Listen for signals from the start: a SIGTERM that lands while the store opens still
  // ends in a clean shutdown (exit 0), right after startup completes.
  let pendingSignal: string | undefined
  let onStop: ((signal: string) => void) | undefined
  const onSignal = (signal: string): void => {
    if (onStop === undefined) pendingSignal ??= signal
    else onStop(signal)
  }
  process.once('SIGTERM', () => onSignal('SIGTERM'))
  process.once('SIGINT', () => onSignal('SIGINT'))
  const options: Record<
    string,
    { type: 'string' | 'boolean'; multiple?: boolean; short?: string }
  > = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }
  for (const s of SETTINGS) {
    options[s.flag] =
      s.kind === 'bool'
        ? { type: 'boolean' }
        : s.kind === 'list' || s.kind === 'rules'
          ? { type: 'string', multiple: true }
          : { type: 'string' }
  }
  let values: FlagValues
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false })
      .values as FlagValues
  } catch (error) {
    process.stderr.write(`herald serve: ${(error as Error).message}\n\n${serveUsage}\n`)
    return 2
  }
  if (values.help === true) {
    process.stdout.write(`${serveUsage}\n`)
    return 0
  }
  let config: ServeConfig
  let store: EventStore
  let opened: OpenedStore
  // Backend connection errors before the logger exists go nowhere: the store retries anyway.
  let logStoreError = (_error: Error): void => {}
  try {
    const configPath = (values.config as string | undefined) ?? env.HERALD_CONFIG
    config = resolveServeConfig(values, env, configPath === '' ? undefined : configPath)
    const retention: RetentionOptions = {
      ...(config.retentionEvents === undefined ? {} : { maxEvents: config.retentionEvents }),
      ...(config.retentionAge === undefined
        ? {}
        : { maxAgeMs: Math.round(config.retentionAge * 1000) }),
      topics: config.retentionTopic,
    }
    config.jwtPublicKey = readKey(config.jwtPublicKey)
    opened = await openStore(config.store, retention, (error) => logStoreError(error))
    store = opened.store
  } catch (error) {
    process.stderr.write(
      `herald serve: ${isHeraldError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
    )
    return 2
  }
  const logger = createLogger(config.logLevel)
  logStoreError = (error) => logger.warn({ err: error }, 'store connection problem (retrying)')
  let hub: ReturnType<typeof createHub>
  try {
    hub = createHub({
      store,
      auth: {
        jwtSecret: config.jwtSecret,
        jwtPublicKey: config.jwtPublicKey,
        jwksUrl: config.jwksUrl,
        audience: config.jwtAudience,
        issuer: config.jwtIssuer,
        anonymousSubscribe: !config.denyAnonymous,
        queryToken: config.queryToken,
        tokenCache: { maxEntries: config.tokenCache },
      },
      maxPayloadBytes: config.maxPayload,
      bodyTimeoutMs: Math.round(config.bodyTimeout * 1000),
      // On Redis, limits and Idempotency-Keys are shared by every node of the hub.
      publishRateLimit:
        config.publishRate === 0
          ? false
          : (opened.sharedRateLimiter?.(
              config.publishRate,
              config.publishBurst ?? config.publishRate * 2,
            ) ?? {
              rate: config.publishRate,
              burst: config.publishBurst,
            }),
      ...(opened.sharedIdempotency === undefined
        ? {}
        : { idempotency: opened.sharedIdempotency() }),
      ...(config.corsOrigin.length === 0
        ? {}
        : { cors: { origins: config.corsOrigin, credentials: !config.corsOrigin.includes('*') } }),
      stream: {
        heartbeatMs: Math.round(config.heartbeat * 1000),
        headTimeoutMs: Math.max(1, Math.round(config.headTimeout * 1000)),
        ...(config.maxConnections === undefined ? {} : { maxConnections: config.maxConnections }),
        ...(config.maxConnectionsPerIp === undefined
          ? {}
          : { maxConnectionsPerIp: config.maxConnectionsPerIp }),
      },
      trustProxy: config.trustProxy,
      mercure: { subscriptions: config.mercureSubscriptions },
      replayPageSize: config.replayPageSize,
      logger,
      processMetrics: true,
      adminToken: config.adminToken,
      dashboard: loadDashboardAssets(),
    })
  } catch (error) {
    await store.close()
    process.stderr.write(
      `herald serve: ${isHeraldError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
    )
    return 2
  }

  let listener: Listener
  let address: AddressInfo
  try {
    const tls =
      config.tlsCert === undefined && config.tlsKey === undefined
        ? undefined
        : { certPath: config.tlsCert ?? '', keyPath: config.tlsKey ?? '' }
    if (tls !== undefined && (tls.certPath === '' || tls.keyPath === '')) {
      throw new HeraldError('HERALD_INVALID_CONFIG', '--tls-cert and --tls-key go together')
    }
    listener = createListener(
      (req, res) => hub.handleNode(req, res),
      tls,
      config.leanStreams ? (fallback) => hub.createConnectionHandler(fallback) : undefined,
      (server) => hub.streams.guardServer(server),
    )
  } catch (error) {
    await hub.close()
    await store.close()
    process.stderr.write(
      `herald serve: ${isHeraldError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
    )
    return 2
  }
  try {
    address = await listener.listen(config.port, config.host)
  } catch (error) {
    await hub.close()
    await store.close()
    process.stderr.write(
      `herald serve: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}\n`,
    )
    return 1
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `${listener.scheme}://${host}:${address.port}`
  logger.info(
    {
      url,
      store: config.store,
      auth:
        config.jwtSecret !== undefined ||
        config.jwtPublicKey !== undefined ||
        config.jwksUrl !== undefined,
    },
    'hub listening',
  )
  // The one stdout line scripts and tests wait for.
  process.stdout.write(`herald listening on ${url}\n`)

  return new Promise<number>((resolveExit) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      logger.info({ signal }, 'shutting down: draining streams')
      listener.stopAccepting()
      hub
        .drain({ deadlineMs: Math.round(config.drainTimeout * 1000) })
        .then(() => hub.close())
        .then(() => store.close())
        .then(
          () => {
            listener.destroy()
            logger.info({}, 'stopped')
            logger.flush?.()
            resolveExit(0)
          },
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed')
            resolveExit(1)
          },
        )
    }
    onStop = stop
    if (pendingSignal !== undefined) stop(pendingSignal)
  })
}
