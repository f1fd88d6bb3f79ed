/**
 * The node's single reader of new events: ONE subscription per node, whatever the number
 * of subscribers, feeding the fan-out.
 */
import type { Logger, StreamServer } from '@herald/server'
import type { StoredEvent } from '@herald/store'
import type { FanOut } from './fan-out.js'
import type { Broker } from './memory-broker.js'

const BROKER_RETRY_MS = 1000

/** A running node tail. */
export interface NodeTail {
  /** Stops reading; resolves once the reader has ended. */
  stop(): Promise<void>
}

/** What the node tail reads from and feeds. */
export interface NodeTailOptions {
  broker: Broker
  fanOut: FanOut
  streams: StreamServer
  logger: Logger
  /** Sees every batch after the fan-out (the dashboard's stats and tails). */
  onBatch?: ((events: readonly StoredEvent[]) => void) | undefined
}

/** Starts the node tail. */
export function startNodeTail({
  broker,
  fanOut,
  streams,
  logger,
  onBatch,
}: NodeTailOptions): NodeTail {
  const stopping = new AbortController()
  const pump = (async () => {
    while (!stopping.signal.aborted) {
      try {
        for await (const batch of broker.subscribe(stopping.signal)) {
          try {
            fanOut.dispatch(batch)
            onBatch?.(batch)
          } catch (error) {
            logger.error({ err: error }, 'fan-out failed')
          }
        }
      } catch (error) {
        logger.error({ err: error }, 'broker subscription failed')
      }
      if (stopping.signal.aborted) break
      // Live events may have been missed while the subscription was down: close every
      // stream so its client reconnects and replays the gap from the log, then resubscribe.
      logger.error({ streams: streams.size }, 'broker subscription ended: resubscribing')
      for (const session of [...streams.sessions]) session.close('error')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, BROKER_RETRY_MS)
        stopping.signal.addEventListener('abort', () => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  })()
  return {
    async stop() {
      stopping.abort()
      await pump
    },
  }
}
