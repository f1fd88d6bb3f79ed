/**
 * A chaos subscriber: a real @herald/client `subscribe()` (reconnect with backoff and
 * jitter, Last-Event-ID resume, stall detection, dedupe), recording every event it yields
 * with its arrival time, so the run can check the exact sequence afterwards.
 */
import { subscribe } from '@herald/client'
import { decodePayload, monotonicMs } from '../bench/payload.js'

/** What one subscriber saw. */
export interface ChaosSubscriberRecord {
  readonly name: string
  /** Sequence numbers in arrival order. */
  readonly seqs: number[]
  /** Arrival times (monotonic ms), parallel to `seqs`. */
  readonly times: number[]
  /** Event ids, parallel to `seqs`. */
  readonly ids: string[]
  /** Successful connections (the first one included). */
  opens: number
  /** Non-fatal errors by code (network, stalled, status ...). */
  readonly errors: Record<string, number>
  /** The fatal error that ended the subscription early, if any. */
  fatal: string | undefined
}

/** A running subscriber. */
export interface ChaosSubscriber {
  readonly record: ChaosSubscriberRecord
  stop(): Promise<void>
}

/** Options of {@link startChaosSubscriber}. */
export interface ChaosSubscriberOptions {
  name: string
  url: URL
  /** No byte for this long: reconnect (the hub heartbeats every second). */
  inactivityTimeoutMs: number
}

/** Subscribes from the start of the log (`earliest`) and records until stopped. */
export function startChaosSubscriber(options: ChaosSubscriberOptions): ChaosSubscriber {
  const controller = new AbortController()
  const record: ChaosSubscriberRecord = {
    name: options.name,
    seqs: [],
    times: [],
    ids: [],
    opens: 0,
    errors: {},
    fatal: undefined,
  }
  const subscription = subscribe(options.url, {
    signal: controller.signal,
    initialLastEventId: 'earliest',
    inactivityTimeoutMs: options.inactivityTimeoutMs,
    backoff: { initialMs: 250, maxMs: 2000 },
    onOpen() {
      record.opens++
    },
    onError(error) {
      record.errors[error.code] = (record.errors[error.code] ?? 0) + 1
    },
  })
  const done = (async () => {
    try {
      for await (const event of subscription) {
        const payload = decodePayload(event.data)
        if (payload === undefined) continue
        record.seqs.push(payload.seq)
        record.times.push(monotonicMs())
        record.ids.push(event.lastEventId)
      }
    } catch (error) {
      if (!controller.signal.aborted) record.fatal = (error as Error).message
    }
  })()
  return {
    record,
    async stop() {
      controller.abort()
      await done
    },
  }
}
