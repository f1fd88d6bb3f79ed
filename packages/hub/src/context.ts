/**
 * What the hub's parts share: the validated options and the services built from them.
 * Routes, the stream acceptor and the node tail take a {@link HubContext}, never the raw
 * options, so validation happens once, in `createHub`.
 */
import type { CorsOptions, Logger, StreamServer } from '@herald/server'
import type { AppendInput, EventStore, StoredEvent } from '@herald/store'
import type { AdminGate } from './admin.js'
import type { Admission } from './admission.js'
import type { Authenticator } from './auth.js'
import type { BlobService } from './blobs.js'
import type { DashboardServices } from './dashboard-api.js'
import type { HubRequest, HubResponse } from './http-io.js'
import { originAllowed } from './http-io.js'
import type { IdempotencyCache } from './idempotency.js'
import type { Presence } from './mercure/presence.js'
import type { HubMetrics } from './metrics.js'
import type { PublishLog } from './publish-log.js'
import type { PublishLimits } from './publish-request.js'
import type { RateLimiter } from './rate-limit.js'
import type { SchemaRegistry } from './schema-registry/registry.js'

/** What `/readyz` reports. */
export type Readiness =
  | { readonly ok: true }
  | {
      readonly ok: false
      readonly code: 'HERALD_DRAINING' | 'HERALD_STORE_UNAVAILABLE'
      readonly message: string
    }

/** The hub's shared services. */
export interface HubContext {
  readonly store: EventStore
  readonly auth: Authenticator
  readonly metrics: HubMetrics
  readonly logger: Logger
  /** The publish log: a debug line per publish, an info summary per interval. */
  readonly publishLog: PublishLog
  readonly streams: StreamServer
  readonly cors: CorsOptions | undefined
  readonly limits: PublishLimits
  readonly maxBodyBytes: number
  readonly bodyTimeoutMs: number
  readonly maxTopicsPerSubscription: number
  readonly maxPatternsPerSubscription: number
  readonly trustProxy: boolean
  readonly limiter: RateLimiter | undefined
  /** Resuming subscriptions per client IP (each reads the log). */
  readonly replayLimiter: RateLimiter | undefined
  readonly idempotency: IdempotencyCache<HubResponse>
  /**
   * Checks (and stamps with `schemaVersion`) events before an append: every publish path.
   * `undefined` when the check was made at once (nothing to wait for); throws or rejects with
   * the violation.
   */
  readonly checkSchemas: (events: readonly AppendInput[]) => Promise<void> | undefined
  /** Binary publishes and `GET /blobs/{id}`; `undefined` when the store keeps no blobs. */
  readonly blobs: BlobService | undefined
  /** The schema registry (`/schemas`), over the store's `SchemaStore`. */
  readonly schemas: SchemaRegistry
  /** Who may see the admin views (the dashboard's private parts, `/metrics`). */
  readonly admin: AdminGate
  /** The `/metrics` body (this hub's registry, or the sum over the cluster's workers). */
  metricsText(): Promise<string>
  /** The dashboard's stats, tails, stream server, clients view and files. */
  readonly dashboard: DashboardServices
  /** Appends validated events (the one write path: HTTP publishes and `hub.publish`). */
  append(events: readonly AppendInput[], startedAt: number): Promise<StoredEvent[]>
  /** This node's delivery lag and publish admission (`maxDeliveryLagMs`). */
  readonly admission: Admission
  /** Whether the hub can serve: not draining, the store answers, the node tail reads. */
  readiness(): Promise<Readiness>
  /** Times a store call into `herald_store_seconds{op}`. */
  timed<T>(op: string, fn: () => Promise<T>): Promise<T>
  /** The newest event this node's tail delivered, if any yet (Mercure's `Last-Event-ID`). */
  latestDelivered(): StoredEvent | undefined
  /** Mercure's active subscriptions, when on (`mercure.subscriptions`). */
  readonly presence: Presence | undefined
}

/** CORS headers for a non-stream answer to `req` (none when its origin is not allowed). */
export function corsHeaders(
  cors: CorsOptions | undefined,
  req: HubRequest,
): Record<string, string> {
  const origin = req.header('origin')
  if (cors === undefined || origin === undefined || !originAllowed(cors, origin)) return {}
  const headers: Record<string, string> = {
    'access-control-allow-origin': origin,
    vary: 'Origin',
  }
  if (cors.credentials === true) headers['access-control-allow-credentials'] = 'true'
  return headers
}
