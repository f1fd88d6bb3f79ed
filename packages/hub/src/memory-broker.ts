/**
 * The in-process broker: fan-out inside one node. With it, a hub is a single node; a
 * Redis or NATS broker spreads events across nodes behind the same interface.
 */
import type { StoredEvent } from '@herald/store'

/**
 * Carries appended events to every hub node. A node holds ONE subscription and fans
 * events out to its own subscribers, never one broker subscription per client.
 *
 * @deprecated Being replaced by the log tail (`EventStore.watch` + `tailLog` from
 * `@herald/store`): the order must come from the log, not from a second channel.
 */
export interface Broker {
  /** Delivers `events` (already appended, in id order) to every subscription. */
  publish(events: readonly StoredEvent[]): Promise<void>
  /**
   * Yields batches of events in id order until `signal` aborts. A subscription sees every
   * event published after it started.
   */
  subscribe(signal: AbortSignal): AsyncIterable<readonly StoredEvent[]>
  /** Ends every subscription and releases resources. */
  close(): Promise<void>
}

interface Subscription {
  queue: (readonly StoredEvent[])[]
  wake: (() => void) | undefined
}

/** Creates an in-process {@link Broker}. `publish` delivers synchronously to every queue. */
export function createMemoryBroker(): Broker {
  const subscriptions = new Set<Subscription>()
  let closed = false
  const closing = new AbortController()

  return {
    async publish(events) {
      if (events.length === 0) return
      for (const sub of subscriptions) {
        sub.queue.push(events)
        const wake = sub.wake
        sub.wake = undefined
        wake?.()
      }
    },
    subscribe(signal) {
      const sub: Subscription = { queue: [], wake: undefined }
      if (!closed && !signal.aborted) subscriptions.add(sub)
      const stop = (): void => {
        subscriptions.delete(sub)
        sub.wake?.()
      }
      return {
        async *[Symbol.asyncIterator]() {
          signal.addEventListener('abort', stop, { once: true })
          closing.signal.addEventListener('abort', stop, { once: true })
          try {
            while (subscriptions.has(sub)) {
              const batch = sub.queue.shift()
              if (batch !== undefined) {
                yield batch
                continue
              }
              await new Promise<void>((resolve) => {
                sub.wake = resolve
              })
            }
          } finally {
            signal.removeEventListener('abort', stop)
            closing.signal.removeEventListener('abort', stop)
            subscriptions.delete(sub)
          }
        },
      }
    },
    async close() {
      closed = true
      closing.abort()
    },
  }
}
