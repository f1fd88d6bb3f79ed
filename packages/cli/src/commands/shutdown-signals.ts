/**
 * SIGTERM and SIGINT for a long-running command: the first asks for a graceful stop, a
 * second asks to hurry, a third to exit now. Hand-written rather than close-with-grace:
 * that library exits synchronously (`process.exit(1)`) on the second signal, so the
 * retry hints a hurried drain still writes would never reach the clients, and it cannot
 * tell a second press from the same Ctrl-C delivered twice.
 *
 * The same Ctrl-C often arrives twice within a few milliseconds: the terminal signals the
 * whole foreground process group, and wrappers such as npm and npx forward the signal
 * they got to their child again. A repeat within `duplicateWindowMs` of the signal before
 * it is therefore the same request, not a second one.
 */

/** How urgent a stop request is: 1 graceful, 2 hurry, 3 or more exit now. */
export type StopStage = number

/** The listener installed by {@link watchStopSignals}. */
export interface StopSignals {
  /**
   * Sets what happens on each stop request. Requests that arrived before are replayed at
   * once (a signal during startup still stops the command once it is up).
   */
  onStop(handler: (signal: NodeJS.Signals, stage: StopStage) => void): void
  /** Removes the signal listeners (the default actions come back). */
  dispose(): void
}

/** Options of {@link watchStopSignals}. */
export interface StopSignalsOptions {
  /** A repeat closer than this to the previous request is ignored. Default 250. */
  duplicateWindowMs?: number
  /** Signals to watch. Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[]
}

/** Installs SIGTERM/SIGINT listeners that count stop requests. */
export function watchStopSignals(options: StopSignalsOptions = {}): StopSignals {
  const windowMs = options.duplicateWindowMs ?? 250
  const signals = options.signals ?? (['SIGTERM', 'SIGINT'] as const)
  let stage = 0
  let last = Number.NEGATIVE_INFINITY
  let handler: ((signal: NodeJS.Signals, stage: StopStage) => void) | undefined
  const pending: [NodeJS.Signals, StopStage][] = []
  const listener = (signal: NodeJS.Signals): void => {
    const now = performance.now()
    if (now - last < windowMs) return
    last = now
    stage++
    if (handler === undefined) pending.push([signal, stage])
    else handler(signal, stage)
  }
  for (const signal of signals) process.on(signal, listener)
  return {
    onStop(next) {
      handler = next
      for (const [signal, at] of pending.splice(0)) next(signal, at)
    },
    dispose() {
      for (const signal of signals) process.off(signal, listener)
    },
  }
}
