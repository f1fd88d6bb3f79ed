/**
 * Publish admission: this node's delivery lag, and the refusal of publishes once it passes a
 * bound, so that an overloaded node pushes back (503 `HERALD_DELIVERY_LAGGING` with
 * `Retry-After`) instead of queueing events whose delivery would come seconds late.
 *
 * The lag is the age of the oldest event this node knows to be in the log but has not yet
 * handed to its subscribers' queues:
 * - every event appended through THIS node is tracked from its append until the node's tail
 *   hands it to the fan-out (exact, whatever the store);
 * - an event appended by another node (or worker) is known only once the tail reads it: while
 *   the tail reads full pages it is behind, and the next unread event is at most as old as the
 *   last one it read.
 * - how long the oldest frame queued for a subscriber has waited for its write (the stream
 *   server's `writeLagMs`): past its capacity a node writes each subscriber less often than
 *   events arrive, and an event handed to the queues waits there for its session's turn;
 * - and how late the node's event loop runs ready work (sampled by a timer every
 *   {@link LOOP_SAMPLE_MS} ms while admission is on): a node past its capacity spends whole
 *   seconds per loop turn writing to its subscribers, and every publish and every frame waits
 *   that long, before any log position shows it.
 * A publish is also refused by what its own event would see: it reaches the queues once the
 * tail and the event loop catch up (the lag above, without the write part), then waits for
 * the subscribers' writes: the stream server's `writeDelayMsWith`, from the frames queued for
 * subscribers plus those of the events this node appended and the tail has not dispatched yet
 * (counted at the fan-out per event seen lately), at the rate the node writes them. (An
 * estimate from how long the last pass over the writes took admitted bursts after a short
 * pass that made the next pass several times longer: under 2x overload p99 stayed at 1.4 to
 * 2.4 s with a 1 s bound; docs/overload.md.)
 * Each node knows only its own lag: a publish is refused by the node it reaches, for that
 * node's own backlog. Nothing here ever blocks: a refused publish appended nothing, and the
 * lag falls back to 0 once the tail catches up (no new append is needed for that).
 */
import type { StoredEvent } from '@herald/store'

/** Options of {@link createAdmission}. */
export interface AdmissionOptions {
  /** Refuse publishes while the lag is above this many ms; `undefined`: only measure. */
  maxLagMs: number | undefined
  /** The tail's page size: a batch this large means the tail is behind the log. */
  pageSize: number
  /** Compares two store cursors. */
  compare(a: string, b: string): number
  /**
   * How long the oldest frame queued for a subscriber has waited for its write, in ms (the
   * stream server's `writeLagMs`). Default: not measured.
   */
  writeLagMs?: (() => number) | undefined
  /**
   * How long a frame queued now would wait for its write, in ms, if `frames` more frames were
   * queued first (the stream server's `writeDelayMsWith`). Default: not counted.
   */
  writeDelayMs?: ((frames: number) => number) | undefined
  /** The clock, ms since the epoch. Default `Date.now`. */
  now?: (() => number) | undefined
  /** Sample the event loop's delay (while `maxLagMs` is set). Default `true`. */
  sampleLoop?: boolean | undefined
}

/** A refused publish: how long to wait before trying again. */
export interface Refusal {
  /** The node's delivery lag when refused, in ms. */
  readonly lagMs: number
  /**
   * How late an event admitted then would have been delivered, in ms: the larger of the lag and
   * the queue lag plus the write delay (with the frames of the appends not yet dispatched).
   */
  readonly projectedMs: number
  /** Seconds to send as `Retry-After` (at least 1). */
  readonly retryAfterS: number
}

/** A node's delivery lag and its publish admission. */
export interface Admission {
  /** The bound, in ms (`undefined`: never refuse). */
  readonly maxLagMs: number | undefined
  /** The current delivery lag, in ms (0 when nothing waits). */
  lagMs(): number
  /** `undefined`: admit the publish; otherwise why not. */
  check(): Refusal | undefined
  /** Events this node appended (the write path calls it once the append is durable). */
  appended(events: readonly StoredEvent[]): void
  /**
   * A batch the node's tail handed to the fan-out (in log order), and how many frames that put
   * in subscribers' queues (one per subscriber per event; omitted: not counted).
   */
  dispatched(batch: readonly StoredEvent[], frames?: number): void
  /** Stops the event-loop sampler. */
  close(): void
}

/** How often the event loop's delay is sampled, in ms. */
export const LOOP_SAMPLE_MS = 50

/** Appends tracked at most: past it, newer appends are not tracked (the oldest sets the lag). */
const MAX_TRACKED = 100_000

/** Creates the admission of one node. */
export function createAdmission(options: AdmissionOptions): Admission {
  const { maxLagMs, pageSize, compare } = options
  if (maxLagMs !== undefined && (!Number.isFinite(maxLagMs) || maxLagMs <= 0)) {
    throw new TypeError(`maxLagMs must be a positive number, got ${maxLagMs}`)
  }
  const now = options.now ?? Date.now
  const writeLagMs = options.writeLagMs
  const writeDelayMs = options.writeDelayMs
  // Local appends not yet dispatched, in append order: the last id of each append, when, and
  // how many events. A ring would save the shift; appends in flight are few (the bound keeps
  // them few).
  const pendingIds: string[] = []
  const pendingAt: number[] = []
  const pendingCount: number[] = []
  let head = 0
  // Events in the pending appends, and the frames an event put in subscribers' queues lately:
  // frames over events of the batches dispatched, each batch weighing half as much as the next
  // (per event, not per batch: with conflation one batch of hundreds of events may put one
  // frame in each queue). What the pending appends will add to the writes.
  let pendingEvents = 0
  let recentFrames = 0
  let recentEvents = 0
  // While the tail reads full pages: publish time of the last event it read.
  let behindSince: number | undefined
  // The last id dispatched: an append the tail already delivered (it may read the event before
  // the append's promise settles) is not tracked, or it would never leave the list.
  let position: string | undefined
  // The event loop: when the sampler last ran, and how late.
  let tickedAt = now()
  let loopDelay = 0
  const sampler =
    maxLagMs !== undefined && options.sampleLoop !== false
      ? setInterval(() => {
          const t = now()
          loopDelay = Math.max(0, t - tickedAt - LOOP_SAMPLE_MS)
          tickedAt = t
        }, LOOP_SAMPLE_MS)
      : undefined
  // Sampling is no reason to keep a process alive.
  sampler?.unref?.()

  /** The lag before the subscribers' queues: appends, the tail, the event loop. */
  function queueLagMs(t: number): number {
    let lag = 0
    if (head < pendingAt.length) lag = t - (pendingAt[head] as number)
    if (behindSince !== undefined) lag = Math.max(lag, t - behindSince)
    if (sampler !== undefined) {
      // The last sample, or the turn in progress when the sampler is overdue.
      lag = Math.max(lag, loopDelay, t - tickedAt - LOOP_SAMPLE_MS)
    }
    return Math.max(0, lag)
  }

  /** The whole lag, from the lag before the queues. */
  function withWriteLag(queueLag: number): number {
    return writeLagMs === undefined ? queueLag : Math.max(queueLag, writeLagMs())
  }

  function lagMs(): number {
    return withWriteLag(queueLagMs(now()))
  }

  return {
    maxLagMs,
    lagMs,
    check() {
      if (maxLagMs === undefined) return undefined
      const queueLag = queueLagMs(now())
      const lag = withWriteLag(queueLag)
      // How late an event admitted now would be delivered: once it reaches the queues, it
      // waits for the passes over the writes. Refused too while older frames wait past the
      // bound.
      const projected =
        writeDelayMs === undefined
          ? lag
          : Math.max(
              lag,
              queueLag +
                writeDelayMs(
                  recentEvents === 0 ? 0 : (pendingEvents * recentFrames) / recentEvents,
                ),
            )
      if (projected <= maxLagMs) return undefined
      return {
        lagMs: lag,
        projectedMs: projected,
        retryAfterS: Math.max(1, Math.ceil((projected - maxLagMs) / 1000)),
      }
    },
    appended(events) {
      const last = events.at(-1)
      if (last === undefined || pendingIds.length - head >= MAX_TRACKED) return
      if (position !== undefined && compare(last.id, position) <= 0) return
      pendingIds.push(last.id)
      pendingAt.push(now())
      pendingCount.push(events.length)
      pendingEvents += events.length
    },
    close() {
      if (sampler !== undefined) clearInterval(sampler)
    },
    dispatched(batch, frames) {
      const last = batch.at(-1)
      if (last === undefined) return
      if (frames !== undefined && frames >= 0) {
        recentFrames = recentFrames / 2 + frames
        recentEvents = recentEvents / 2 + batch.length
      }
      position = last.id
      behindSince = batch.length >= pageSize ? last.publishedAt : undefined
      while (head < pendingIds.length && compare(pendingIds[head] as string, last.id) <= 0) {
        pendingEvents -= pendingCount[head] as number
        head++
      }
      if (head === pendingIds.length) {
        pendingIds.length = 0
        pendingAt.length = 0
        pendingCount.length = 0
        pendingEvents = 0
        head = 0
      } else if (head > 1024) {
        pendingIds.splice(0, head)
        pendingAt.splice(0, head)
        pendingCount.splice(0, head)
        head = 0
      }
    },
  }
}
