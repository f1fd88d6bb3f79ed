/**
 * Group commit: when the pending batch of appends commits. At once (in the event-loop turn's
 * check phase), or held for up to `holdMs` so that publishes arriving back to back share one
 * transaction. A transaction costs about 25 us of CPU whatever it holds (BEGIN IMMEDIATE's
 * locks, the WAL frames of the table's and the topic index's last pages, COMMIT), a row about
 * 5 us: at a steady 12 000 publishes/s most turns hold ONE publish, so most of a publish's
 * store cost was its own transaction.
 *
 * A batch is held only when it opens within `holdMs` of the previous commit (publishes are
 * arriving back to back: an idle hub commits at once) and commits early once it holds
 * {@link MAX_HELD_ROWS} rows. A hold that gathered fewer than {@link MIN_GATHERED} publishes, or
 * that waited more than `holdMs / 2` after its last publish (nothing more was coming: a
 * publisher awaiting each answer, or a few in a closed loop), only added latency: the next {@link MIN_BACKOFF} batches
 * commit at once, twice as many after each further useless hold, up to {@link MAX_BACKOFF}.
 */

/** A held batch with this many rows commits at once. */
export const MAX_HELD_ROWS = 32
/**
 * A hold that ends with fewer publishes than this (the one that opened it included) was not
 * worth its latency. Node's timers count whole milliseconds from the loop's cached time, so a
 * 1 ms hold lasts anywhere from a few microseconds to a millisecond: a short one may gather
 * nothing at a rate where a long one gathers ten.
 */
export const MIN_GATHERED = 2
/** Batches committed at once after the first useless hold. */
export const MIN_BACKOFF = 16
/** Most batches committed at once between two holds. */
export const MAX_BACKOFF = 1024

/** What an arriving append does to the pending batch. */
export type CommitDecision =
  /** Commit the batch in this turn's check phase (`setImmediate`). */
  | 'now'
  /** The append opened the batch: hold it for `holdMs` (`setTimeout`). */
  | 'hold'
  /** Nothing changes: the batch is already scheduled. */
  | 'wait'

/** The group-commit policy of one store (see the file's comment). */
export interface GroupCommit {
  /** How long a batch may be held, in milliseconds; 0: never held. */
  readonly holdMs: number
  /**
   * An append joined the pending batch: `rows` are now pending (its own included), `opened`
   * whether it opened the batch (nothing was scheduled).
   */
  arrived(rows: number, opened: boolean): CommitDecision
  /** The pending batch of `publishes` appends is about to be written. */
  committing(publishes: number): void
  /** Its transaction ended (committed or failed). */
  committed(): void
}

/**
 * The group-commit policy with a hold of `holdMs` (0: every batch commits at once) and a
 * clock in milliseconds (`performance.now` by default, read when it is called, so fake timers
 * can replace it).
 */
export function createGroupCommit(
  holdMs: number,
  now: () => number = () => performance.now(),
): GroupCommit {
  let lastCommit = Number.NEGATIVE_INFINITY
  let lastArrival = 0
  /** The pending batch was held (its commit was delayed), and whether it filled up. */
  let held = false
  let full = false
  /** Batches to commit at once before the next hold, and the next such pause. */
  let skip = 0
  let backoff = MIN_BACKOFF
  return {
    holdMs,
    arrived(rows, opened) {
      const t = now()
      lastArrival = t
      if (opened) {
        held = holdMs > 0 && skip === 0 && rows < MAX_HELD_ROWS && t - lastCommit < holdMs
        full = false
        return held ? 'hold' : 'now'
      }
      if (held && !full && rows >= MAX_HELD_ROWS) {
        full = true
        return 'now'
      }
      return 'wait'
    },
    committing(publishes) {
      if (!held) {
        if (skip > 0) skip--
        return
      }
      held = false
      const useful = full || (publishes >= MIN_GATHERED && now() - lastArrival < holdMs / 2)
      if (useful) backoff = MIN_BACKOFF
      else {
        skip = backoff
        backoff = Math.min(2 * backoff, MAX_BACKOFF)
      }
    },
    committed() {
      lastCommit = now()
    },
  }
}
