/**
 * Page lifecycle signals (hidden, back/forward cache, back online), read only where they
 * exist: nothing here touches `document` or `window` in Node or in a worker.
 */
import type { ResolvedOptions } from './options.js'

/** What the connection loop needs to know about the page. */
export interface Lifecycle {
  /** `true` while the connection should stay closed (page hidden, or in the bfcache). */
  readonly paused: boolean
  /** Removes every listener. */
  dispose(): void
}

type Target = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>

/**
 * Watches the page (or worker) and calls `onChange` whenever it may be time to pause or
 * resume. Returns `undefined` when the runtime has no such events (Node).
 */
export function watchLifecycle(
  options: ResolvedOptions,
  onChange: () => void,
): Lifecycle | undefined {
  const scope = globalThis as Partial<Target & { document: Partial<Target & Document> }>
  const doc = options.pauseWhenHidden === false ? undefined : scope.document
  const listeners: [Target, string, () => void][] = []
  let pageHidden = false
  const on = (target: Partial<Target> | undefined, type: string, listener: () => void) => {
    if (typeof target?.addEventListener !== 'function') return
    target.addEventListener(type, listener)
    listeners.push([target as Target, type, listener])
  }
  const flag = (hidden: boolean) => () => {
    pageHidden = hidden
    onChange()
  }
  on(doc, 'visibilitychange', onChange)
  if (options.pauseOnPageHide !== false) {
    on(scope, 'pagehide', flag(true))
    on(scope, 'pageshow', flag(false))
  }
  if (options.reconnectWhenOnline !== false) on(scope, 'online', onChange)
  if (listeners.length === 0) return undefined
  return {
    get paused() {
      return pageHidden || doc?.visibilityState === 'hidden'
    },
    dispose() {
      for (const [target, type, listener] of listeners) target.removeEventListener(type, listener)
    },
  }
}
