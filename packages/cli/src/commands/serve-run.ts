/**
 * What `herald serve` does once its flags are parsed: resolves the configuration, opens the
 * store, runs the hub on node:http (or HTTPS + HTTP/2), prints
 * `herald listening on http://HOST:PORT`, and stops on SIGTERM/SIGINT: the first signal
 * drains (exit 0), a second closes the remaining streams at once, still with their retry
 * hints (exit 0 when that completes), a third exits at once (exit 1).
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import type { EventStore, RetentionOptions } from '@herald/hub'
import { createHub } from '@herald/hub'
import { HeraldError, isHeraldError } from '@herald/protocol'
import type { Logger } from '@herald/server'
import pino from 'pino'
import { loadDashboardAssets } from './dashboard-assets.js'
import { startMemoryReducer } from './memory-reducer.js'
import {
  clusterMetrics,
  isClusterWorker,
  parseWorkers,
  reportListening,
  runPrimary,
} from './serve-cluster.js'
import { createWorkerDashboardPeers } from './serve-cluster-dashboard.js'
import type { ResolvedServeConfig } from './serve-config.js'
import type { Listener } from './serve-listener.js'
import { createListener } from './serve-listener.js'
import type { OpenedStore } from './serve-store.js'
import { openStore } from './serve-store.js'
import type { StopSignals } from './shutdown-signals.js'

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

/** Set once this worker shuts down by itself: its own disconnect is no reason to stop again. */
let workerExiting = false

/** How long a hurried stop (second signal) may take before the process exits anyway. */
const HURRY_MS = 2000

function createLogger(level: string): pino.Logger {
  if (process.stderr.isTTY) {
    return pino({ level, transport: { target: 'pino-pretty', options: { destination: 2 } } })
  }
  return pino({ level }, pino.destination(2))
}

/**
 * A logger that holds lines logged during startup until {@link release} (so a warning about
 * the configuration never comes before the error that stops startup), then passes through.
 */
function holdUntilListening(logger: Logger): { logger: Logger; release(): void } {
  let held: [keyof Logger, object, string | undefined][] | undefined = []
  const line =
    (level: keyof Logger) =>
    (obj: object, msg?: string): void => {
      if (held === undefined) logger[level](obj, msg)
      else held.push([level, obj, msg])
    }
  return {
    logger: { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') },
    release() {
      const lines = held ?? []
      held = undefined
      for (const [level, obj, msg] of lines) logger[level](obj, msg)
    },
  }
}

/** Prints a startup error as `herald serve: CODE: message`; the exit code is 2. */
export function fail(error: unknown): number {
  process.stderr.write(
    `herald serve: ${isHeraldError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`,
  )
  return 2
}

/**
 * Runs the hub with a resolved configuration; `signals` were installed by the caller
 * before anything slow started, so a signal during startup stops the hub once it is up.
 * Resolves to the exit code once the hub has shut down.
 */
export async function runServe(
  { config, warnings }: ResolvedServeConfig,
  signals: StopSignals,
): Promise<number> {
  let store: EventStore
  let opened: OpenedStore
  // Backend connection errors before the logger exists go nowhere: the store retries anyway.
  let logStoreError = (_error: Error): void => {}
  try {
    const retention: RetentionOptions = {
      ...(config.retentionEvents === undefined ? {} : { maxEvents: config.retentionEvents }),
      ...(config.retentionAge === undefined
        ? {}
        : { maxAgeMs: Math.round(config.retentionAge * 1000) }),
      topics: config.retentionTopic,
    }
    config.jwtPublicKey = readKey(config.jwtPublicKey)
    const workers = parseWorkers(config.workers)
    if (workers > 1 && !isClusterWorker()) {
      if (config.store === 'memory') {
        throw new HeraldError(
          'HERALD_INVALID_CONFIG',
          '--workers: the memory store lives in one process; use sqlite:PATH, redis:// or nats:// to share the log',
        )
      }
      // Opened once here: a migration runs once, and a bad store fails with exit 2 now.
      await (await openStore(config.store, retention)).store.close()
      return await runPrimary(workers, config.logLevel)
    }
    opened = await openStore(config.store, retention, (error) => logStoreError(error))
    store = opened.store
  } catch (error) {
    return fail(error)
  }
  const logger = createLogger(config.logLevel)
  logStoreError = (error) => logger.warn({ err: error }, 'store connection problem (retrying)')
  const startup = holdUntilListening(logger)
  for (const warning of warnings) startup.logger.warn({}, warning)
  if (config.jwtSecret !== undefined && Buffer.byteLength(config.jwtSecret) < 32) {
    startup.logger.warn(
      { bytes: Buffer.byteLength(config.jwtSecret) },
      'the JWT secret is shorter than 32 bytes: anyone who guesses it can mint tokens; use e.g. $(openssl rand -hex 32)',
    )
  }
  let hub: ReturnType<typeof createHub>
  // A cluster worker's /metrics is the sum over all workers, gathered by the primary.
  let clusterText: (() => Promise<string>) | undefined
  // And its dashboard shows every worker, through the primary too.
  const nodeName = `${hostname()}:${process.pid}`
  const clusterDashboard = isClusterWorker() ? createWorkerDashboardPeers() : undefined
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
      blobs: {
        maxBytes: config.maxBlob,
        inlineBytes: config.blobInline,
        sweepIntervalMs: Math.max(10, Math.round(config.blobSweep * 1000)),
      },
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
      // Publishes ride on the lean listener: without it (--no-lean-streams, TLS) node:http answers them.
      leanPublish: config.leanPublish,
      mercure: { subscriptions: config.mercureSubscriptions },
      replayPageSize: config.replayPageSize,
      ...(config.maxDeliveryLag === 0
        ? {}
        : { maxDeliveryLagMs: Math.max(1, Math.round(config.maxDeliveryLag * 1000)) }),
      ...(config.conflate.length === 0 ? {} : { conflate: config.conflate }),
      logger: startup.logger,
      processMetrics: true,
      adminToken: config.adminToken,
      dashboard: loadDashboardAssets(),
      ...(isClusterWorker() ? { metricsText: () => (clusterText as () => Promise<string>)() } : {}),
      nodeName,
      dashboardPeers: clusterDashboard?.peers,
    })
    if (isClusterWorker()) clusterText = clusterMetrics(hub.metrics.registry)
    const made = hub
    clusterDashboard?.serve({ listClients: (query) => made.listClients(query), node: nodeName })
  } catch (error) {
    await store.close()
    return fail(error)
  }

  let listener: Listener
  let address: AddressInfo
  try {
    const tls =
      config.tlsCert === undefined || config.tlsKey === undefined
        ? undefined
        : { certPath: config.tlsCert, keyPath: config.tlsKey }
    listener = createListener(
      (req, res) => hub.handleNode(req, res),
      tls,
      config.leanStreams ? (fallback) => hub.createConnectionHandler(fallback) : undefined,
      (server) => hub.streams.guardServer(server),
    )
  } catch (error) {
    await hub.close()
    await store.close()
    return fail(error)
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
  startup.release()
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `${listener.scheme}://${host}:${address.port}`
  logger.info(
    {
      url,
      store: config.store,
      // Which path serves plain HTTP/1.1 streams (TLS and HTTP/2 are always node:http2's).
      leanStreams: config.leanStreams && listener.scheme === 'http',
      leanPublish: config.leanStreams && config.leanPublish && listener.scheme === 'http',
      auth:
        config.jwtSecret !== undefined ||
        config.jwtPublicKey !== undefined ||
        config.jwksUrl !== undefined,
    },
    'hub listening',
  )
  // The one stdout line scripts and tests wait for (the primary prints it for a cluster).
  if (isClusterWorker()) {
    reportListening(url)
    // A worker whose primary is gone (killed) drains and exits instead of living on orphaned.
    process.once('disconnect', () => {
      if (!workerExiting) process.kill(process.pid, 'SIGTERM')
    })
  } else process.stdout.write(`herald listening on ${url}\n`)
  // Gives the heap pages a connect burst left behind back once the process is idle again
  // (memory-reducer.ts); HERALD_MEMORY_REDUCER=0 turns it off.
  const reducer =
    process.env.HERALD_MEMORY_REDUCER === '0'
      ? undefined
      : startMemoryReducer({
          onCollect: ({ beforeBytes, afterBytes, ms }) =>
            logger.debug(
              {
                heapBeforeMiB: Math.round(beforeBytes / 2 ** 20),
                heapAfterMiB: Math.round(afterBytes / 2 ** 20),
                ms: Math.round(ms),
              },
              'memory reducer: compacting GC',
            ),
        })

  return new Promise<number>((resolveExit) => {
    let finished = false
    let hurried = false
    const finish = (code: number): void => {
      if (finished) return
      finished = true
      reducer?.stop()
      listener.destroy()
      logger.info({ code }, 'stopped')
      logger.flush?.()
      // A cluster worker's IPC channel would keep the process alive.
      workerExiting = true
      if (isClusterWorker() && process.connected) process.disconnect()
      resolveExit(code)
      // A hurried stop leaves the first drain's wave and deadline timers behind: exit with
      // the code now rather than wait for them (everything they would close is closed).
      if (hurried) setImmediate(() => process.exit(code))
    }
    const closeAll = (): Promise<void> => hub.close().then(() => store.close())
    signals.onStop((signal, stage) => {
      if (stage === 1) {
        logger.info(
          { signal, deadlineSeconds: config.drainTimeout },
          `shutting down: draining streams (${signal} again to close them now)`,
        )
        listener.stopAccepting()
        hub
          .drain({ deadlineMs: Math.round(config.drainTimeout * 1000) })
          .then(closeAll)
          .then(
            () => finish(0),
            (error: unknown) => {
              logger.error({ err: error }, 'shutdown failed')
              finish(1)
            },
          )
      } else if (stage === 2) {
        hurried = true
        logger.warn({ signal }, 'second signal: closing the remaining streams now')
        // A one-wave drain: every open stream gets its retry hint and closes at once; the
        // short budget lets those last bytes reach the kernel before the process exits.
        const cap = setTimeout(() => {
          logger.error({ signal, ms: HURRY_MS }, 'shutdown did not finish in time: exiting')
          finish(1)
        }, HURRY_MS)
        hub
          .drain({ deadlineMs: HURRY_MS / 2, waves: 1 })
          .then(closeAll)
          .then(
            () => finish(0),
            (error: unknown) => {
              logger.error({ err: error }, 'shutdown failed')
              finish(1)
            },
          )
          .finally(() => clearTimeout(cap))
      } else {
        hurried = true
        logger.error({ signal }, 'third signal: exiting now')
        finish(1)
      }
    })
  })
}
