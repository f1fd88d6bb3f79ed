/**
 * An in-process wake-up signal: what a store's `watch` is made of when the store itself
 * knows when its log grows (memory; SQLite within one process). Wakeups coalesce: however
 * many `wake()` calls happen before a watcher asks again, it sees one.
 */

/** A wake-up signal shared by one store's watchers. */
export interface WakeSignal {
  /** Wakes every watcher (call it after an append committed). */
  wake(): void
  /**
   * A watcher, registered NOW (not at the first `next()`), as `EventStore.watch` requires.
   * Ends when `signal` aborts or {@link WakeSignal.close} is called.
   */
  watch(signal: AbortSignal): AsyncIterable<void>
  /** Ends every watcher; later `watch` calls end at once. */
  close(): void
}

interface Watcher {
  pending: boolean
  done: boolean
  resolve: (() => void) | undefined
}

/** Creates a {@link WakeSignal}. */
export function createWakeSignal(): WakeSignal {
  const watchers = new Set<Watcher>()
  let closed = false

  function settle(w: Watcher): void {
    const resolve = w.resolve
    w.resolve = undefined
    resolve?.()
  }

  return {
    wake() {
      for (const w of watchers) {
        w.pending = true
        settle(w)
      }
    },
    watch(signal) {
      const w: Watcher = { pending: false, done: closed || signal.aborted, resolve: undefined }
      const stop = (): void => {
        w.done = true
        watchers.delete(w)
        settle(w)
      }
      if (!w.done) {
        watchers.add(w)
        signal.addEventListener('abort', stop, { once: true })
      }
      const iterator: AsyncIterator<void> = {
        async next() {
          while (!w.done && !w.pending) {
            await new Promise<void>((resolve) => {
              w.resolve = resolve
            })
          }
          if (w.done) return { done: true, value: undefined }
          w.pending = false
          return { done: false, value: undefined }
        },
        async return() {
          signal.removeEventListener('abort', stop)
          stop()
          return { done: true, value: undefined }
        },
      }
      return { [Symbol.asyncIterator]: () => iterator }
    },
    close() {
      closed = true
      for (const w of [...watchers]) {
        w.done = true
        watchers.delete(w)
        settle(w)
      }
    },
  }
}
