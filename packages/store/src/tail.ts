/**
 * The node's single log reader: follows the log from a cursor, in id order, for all of the
 * node's subscribers. The store's `watch` wakes it; what it yields always comes from
 * `read`, so two nodes appending concurrently cannot make it skip an id. A backend that
 * fails pauses it (it retries); it never ends on its own before `signal` aborts.
 */
import type { EventStore, ReadReset } from './event-store.js'
import type { StoredEvent } from './events.js'

/** Options of {@link tailLog}. */
export interface TailOptions {
  /** Ends the tail. */
  signal: AbortSignal
  /**
   * Yield the events after this cursor. Default: after the newest id at start (live only;
   * from the oldest when the log is empty).
   */
  after?: string | undefined
  /** Events per read. Default 1000. */
  pageSize?: number | undefined
  /**
   * Reads at least this often without a wakeup: a safety net should a notification be lost.
   * Default 1000 ms; 0: only on wakeups.
   */
  maxIdleMs?: number | undefined
  /** Pause after a failed read or watch before retrying, in ms. Default 250. */
  retryMs?: number | undefined
  /** A read or watch failed: the tail pauses and retries (delivery is paused meanwhile). */
  onError?: ((error: unknown) => void) | undefined
  /** The first successful read after failures: delivery resumes where it stopped. */
  onRecover?: (() => void) | undefined
  /**
   * The tail's own cursor could not be resumed (retention deleted events before the tail
   * read them, or the log was replaced). The tail goes on after `reset.latestId`; the
   * caller should make its subscribers replay (they will get their own reset).
   */
  onReset?: ((reset: ReadReset) => void) | undefined
  /**
   * The tail knows where it starts (`after`, or the newest id once the store first answers):
   * every event appended from now on will be yielded. Called once.
   */
  onPositioned?: ((cursor: string | undefined) => void) | undefined
}

const ALL = ['**'] as const

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve()
      return
    }
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * Follows `store`'s log: yields each batch of new events (every topic, in id order, each
 * event exactly once) until `options.signal` aborts.
 */
export async function* tailLog(
  store: EventStore,
  options: TailOptions,
): AsyncGenerator<readonly StoredEvent[], void, undefined> {
  // Ended by the caller's signal, or by the consumer leaving the loop early.
  const stop = new AbortController()
  const { signal } = stop
  const forward = (): void => stop.abort()
  if (options.signal.aborted) stop.abort()
  else options.signal.addEventListener('abort', forward, { once: true })
  const pageSize = options.pageSize ?? 1000
  const maxIdleMs = options.maxIdleMs ?? 1000
  const retryMs = options.retryMs ?? 250
  let cursor = options.after
  let positioned = options.after !== undefined
  if (positioned) options.onPositioned?.(cursor)
  let failing = false
  // Wakeups coalesce into one flag; the watcher loop runs beside the reader.
  let woken = true
  let wakeReader: (() => void) | undefined
  const wake = (): void => {
    woken = true
    const resolve = wakeReader
    wakeReader = undefined
    resolve?.()
  }
  signal.addEventListener('abort', wake, { once: true })
  const watching = (async () => {
    while (!signal.aborted) {
      try {
        for await (const _ of store.watch(signal)) wake()
      } catch (error) {
        if (!signal.aborted) options.onError?.(error)
      }
      if (!signal.aborted) await pause(retryMs, signal)
      wake()
    }
  })()
  try {
    while (!signal.aborted) {
      if (!woken) {
        const timer = maxIdleMs > 0 ? setTimeout(wake, maxIdleMs) : undefined
        await new Promise<void>((resolve) => {
          wakeReader = resolve
        })
        if (timer !== undefined) clearTimeout(timer)
        continue
      }
      woken = false
      try {
        if (!positioned) {
          const health = await store.health()
          if (!health.ok) throw new Error(health.reason)
          cursor = health.latestId
          positioned = true
          options.onPositioned?.(cursor)
        }
        for (;;) {
          const page = await store.read(cursor, { topics: ALL, limit: pageSize })
          if (failing) {
            failing = false
            options.onRecover?.()
          }
          if (page.kind === 'reset') {
            options.onReset?.(page)
            cursor = page.latestId
            continue
          }
          if (page.cursor !== undefined) cursor = page.cursor
          if (page.events.length > 0) yield page.events
          if (signal.aborted || !page.more) break
        }
      } catch (error) {
        if (signal.aborted) break
        failing = true
        options.onError?.(error)
        await pause(retryMs, signal)
        woken = true
      }
    }
  } finally {
    options.signal.removeEventListener('abort', forward)
    stop.abort()
    await watching
  }
}
