/**
 * The node's single log reader: ONE `tailLog` per node, whatever the number of subscribers,
 * following the log from the last id it delivered and feeding the fan-out in id order. The
 * store's `watch` only wakes it, so events published on other nodes (or workers) arrive in
 * log order too, and no subscriber can see a gap.
 *
 * A backend outage pauses delivery: streams stay open (the stream server keeps sending
 * heartbeats), `/readyz` answers 503, and once the store answers again the tail resumes
 * from where it stopped: nothing lost, no mass disconnect.
 */
import type { Logger, StreamServer } from '@herald/server'
import type { EventStore, StoredEvent } from '@herald/store'
import { tailLog } from '@herald/store'
import type { FanOut } from './fan-out.js'

/** A running node tail. */
export interface NodeTail {
  /** `false` while reads fail (the backend is down): delivery is paused. */
  readonly healthy: boolean
  /** The last id delivered to the fan-out (`undefined` before the first). */
  readonly position: string | undefined
  /**
   * `true` once the tail knows where it starts in the log: from then on every appended event
   * reaches the fan-out. Before, a subscriber attached now could miss an event appended
   * before the tail's first read of the log head.
   */
  readonly positioned: boolean
  /** Resolves `true` once {@link positioned}, or `false` after `ms` (the store does not answer). */
  whenPositioned(ms: number): Promise<boolean>
  /** Stops reading; resolves once the reader has ended. */
  stop(): Promise<void>
}

/** What the node tail reads from and feeds. */
export interface NodeTailOptions {
  store: EventStore
  fanOut: FanOut
  streams: StreamServer
  logger: Logger
  /** Events per read. Default 1000. */
  pageSize?: number | undefined
  /** Pause between retries while the store fails, in ms. Default 250. */
  retryMs?: number | undefined
  /**
   * Awaited after each batch, before the next read: while it waits, new events stay in the
   * log and the next read takes them together (the hub waits for the subscribers' writes of
   * the batch when topics conflate, so that a batch spans what arrived during a write pass).
   */
  beforeRead?: (() => Promise<void>) | undefined
  /** Sees every batch after the fan-out (the dashboard's stats and tails). */
  onBatch?: ((events: readonly StoredEvent[]) => void) | undefined
}

/** Starts the node tail. */
export function startNodeTail(options: NodeTailOptions): NodeTail {
  const { store, fanOut, streams, logger } = options
  const stopping = new AbortController()
  let healthy = true
  let position: string | undefined
  let failures = 0
  let positioned = false
  let markPositioned!: () => void
  const positionedOnce = new Promise<void>((resolve) => {
    markPositioned = resolve
  })
  const run = (async () => {
    const tail = tailLog(store, {
      signal: stopping.signal,
      pageSize: options.pageSize,
      retryMs: options.retryMs,
      onError(error) {
        // Log the first failure and then every 40th (about every 10 s): an outage is one
        // story, not a line per retry.
        if (failures++ % 40 === 0) {
          logger.error(
            { err: error, streams: streams.size },
            'event store read failed: delivery paused',
          )
        }
        healthy = false
      },
      onRecover() {
        logger.info({ failures }, 'event store answers again: delivery resumed')
        failures = 0
        healthy = true
      },
      onPositioned() {
        positioned = true
        markPositioned()
      },
      onReset(reset) {
        // The tail itself fell behind retention: events were deleted before this node
        // delivered them. Every stream replays from its own cursor (and gets its own reset).
        logger.error(
          { reason: reset.reason, streams: streams.size },
          'node tail lost its place in the log: streams reconnect',
        )
        for (const session of [...streams.sessions]) session.close('error')
      },
    })
    for await (const batch of tail) {
      healthy = true
      position = batch.at(-1)?.id ?? position
      try {
        fanOut.dispatch(batch)
        options.onBatch?.(batch)
      } catch (error) {
        logger.error({ err: error }, 'fan-out failed')
      }
      if (options.beforeRead !== undefined) await options.beforeRead()
    }
  })()
  return {
    get healthy() {
      return healthy
    },
    get position() {
      return position
    },
    get positioned() {
      return positioned
    },
    async whenPositioned(ms) {
      if (positioned) return true
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), ms)
      })
      try {
        return await Promise.race([positionedOnce.then(() => true as const), late])
      } finally {
        clearTimeout(timer)
      }
    },
    async stop() {
      stopping.abort()
      await run
    },
  }
}
