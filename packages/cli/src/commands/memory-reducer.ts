/**
 * `herald serve`'s memory reducer: after a burst (thousands of streams connecting, a publish
 * storm), once the process is idle again, a few compacting full GCs give the V8 heap pages the
 * burst's garbage left behind back to the system.
 *
 * Why: a connect burst leaves about 1 KiB of garbage per stream in V8's old generation, spread
 * over the same pages as the live sockets and sessions. V8's own full GCs free the garbage but
 * evacuate only pages that are mostly empty, so the pages stay committed (at 15 000 idle
 * streams: 62 MiB of heap for 44 MiB live, for as long as the streams stay open), and V8's own
 * memory reducer did not run within a minute of idleness after such a burst. A GC run while
 * `--optimize-for-size` is set evacuates every page with 20% or more free, at most 6 MiB of
 * live objects per GC (a bounded pause, and at most that much extra memory while it copies).
 * docs/benchmarks.md has the figures. The flag is set for the synchronous GC only: nothing
 * else runs meanwhile (background compiles may see it and favour size for that while).
 *
 * The decision is a pure step function ({@link createMemoryReducer}) fed every
 * {@link REDUCER_INTERVAL_MS} with the heap's committed size and the event loop's utilization,
 * so its rules are tested without clocks; {@link startMemoryReducer} wires it to V8.
 */
import { performance } from 'node:perf_hooks'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'

/** How often the reducer looks at the heap (one `getHeapStatistics` call). */
export const REDUCER_INTERVAL_MS = 2000

const MiB = 1024 * 1024

/** The rules, with their defaults. */
export interface MemoryReducerOptions {
  /** Committed heap growth over the last baseline that makes a reduction worth it (8 MiB). */
  growthBytes?: number
  /** Event loop utilization (0..1) above which a tick counts as busy (0.2). */
  busyUtilization?: number
  /** Idle ticks in a row before a reduction starts: the burst is over (2). */
  idleTicks?: number
  /** Ticks between the starts of two reductions (30: a minute at the default interval). */
  minTicksBetween?: number
  /** Full GCs per reduction at most (4). */
  maxCollections?: number
  /** A GC past the second that gives back less than this ends the reduction (1 MiB). */
  minGainBytes?: number
}

/** What one tick saw. */
export interface ReducerSample {
  /** The V8 heap's committed size, bytes. */
  committedBytes: number
  /** Event loop utilization since the previous tick, 0..1. */
  utilization: number
}

/** The step function: `tick` returns `true` when a compacting GC should run now. */
export interface MemoryReducer {
  tick(sample: ReducerSample): boolean
  /** Reductions started so far. */
  readonly reductions: number
  /** Compacting GCs asked for so far. */
  readonly collections: number
}

/** Creates the reducer's decision logic (no timers, no V8: see {@link startMemoryReducer}). */
export function createMemoryReducer(options: MemoryReducerOptions = {}): MemoryReducer {
  const growth = options.growthBytes ?? 8 * MiB
  const busyAt = options.busyUtilization ?? 0.2
  const idleNeeded = options.idleTicks ?? 2
  const gap = options.minTicksBetween ?? 30
  const maxCollections = options.maxCollections ?? 4
  const minGain = options.minGainBytes ?? MiB
  let baseline: number | undefined
  let idle = 0
  let ticks = 0
  let lastStart = Number.NEGATIVE_INFINITY
  let previousStart = Number.NEGATIVE_INFINITY
  // During a reduction: GCs run in it so far, and the committed size before the last one.
  let running = 0
  let before = 0
  let reductions = 0
  let collections = 0

  function collect(committed: number): boolean {
    running++
    collections++
    before = committed
    return true
  }

  return {
    get reductions() {
      return reductions
    },
    get collections() {
      return collections
    },
    tick({ committedBytes, utilization }) {
      ticks++
      const busy = utilization > busyAt
      idle = busy ? 0 : idle + 1
      if (running > 0) {
        // The first GC mostly frees garbage (V8 picks pages to evacuate from live sizes of
        // the previous GC): the second one compacts; more while each still gives back.
        const gained = before - committedBytes
        if (!busy && running < maxCollections && (running < 2 || gained >= minGain)) {
          return collect(committedBytes)
        }
        if (busy && running < 2) {
          // Cut short by work before it compacted anything: it did not happen. The next idle
          // spell starts it again (from the same baseline), without waiting for the gap.
          running = 0
          lastStart = previousStart
          return false
        }
        running = 0
        baseline = committedBytes
        return false
      }
      if (baseline === undefined || committedBytes < baseline) baseline = committedBytes
      if (committedBytes - baseline >= growth && idle >= idleNeeded && ticks - lastStart >= gap) {
        previousStart = lastStart
        lastStart = ticks
        reductions++
        return collect(committedBytes)
      }
      return false
    },
  }
}

/** True when the process was started with `--optimize-for-size` (then it stays set). */
function optimizingForSize(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  return flags.some((flag) => /^--optimize[-_]for[-_]size$/.test(flag))
}

let gc: (() => void) | undefined

/**
 * One full GC that compacts fragmented pages (see the file comment). `gc` comes from a fresh
 * context once `--expose-gc` is set (or from the global when Node was started with it).
 */
export function compactingGc(): void {
  if (gc === undefined) {
    const exposed = (globalThis as { gc?: unknown }).gc
    if (typeof exposed === 'function') gc = exposed as () => void
    else {
      v8.setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc') as () => void
    }
  }
  if (optimizingForSize()) {
    gc()
    return
  }
  v8.setFlagsFromString('--optimize-for-size')
  try {
    gc()
  } finally {
    v8.setFlagsFromString('--no-optimize-for-size')
  }
}

/**
 * Runs the reducer for this process (an unref'd interval: it never keeps the process alive).
 * `onCollect` is told about every GC run (for a debug log line).
 */
export function startMemoryReducer(
  options: MemoryReducerOptions & {
    onCollect?: (info: { beforeBytes: number; afterBytes: number; ms: number }) => void
  } = {},
): { stop(): void; readonly reducer: MemoryReducer } {
  const reducer = createMemoryReducer(options)
  let last = performance.eventLoopUtilization()
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization()
    const { utilization } = performance.eventLoopUtilization(now, last)
    last = now
    const committedBytes = v8.getHeapStatistics().total_heap_size
    if (!reducer.tick({ committedBytes, utilization })) return
    const started = performance.now()
    compactingGc()
    const ms = performance.now() - started
    // The GC's own time is not the application's: leave it out of the next utilization.
    last = performance.eventLoopUtilization()
    options.onCollect?.({
      beforeBytes: committedBytes,
      afterBytes: v8.getHeapStatistics().total_heap_size,
      ms,
    })
  }, REDUCER_INTERVAL_MS)
  timer.unref()
  return {
    reducer,
    stop() {
      clearInterval(timer)
    },
  }
}
