/**
 * Per-subscriber bookkeeping of sequence numbers: what arrived, what is missing, what came
 * twice or late. Events normally arrive in order, so the state is the highest sequence seen
 * plus a (usually empty) list of missing ranges; a bitmap per subscriber would cost
 * megabytes at 15k subscribers.
 *
 * Out of order means causally out of order: `a` arriving after an event sent once `a` had
 * been answered (see `settled` in payload.ts). Publishes that were in flight together may
 * reach subscribers in either order; such late arrivals only fill their gap.
 */

/** Counts of one subscriber, or of many added together. */
export interface SequenceCounts {
  received: number
  lost: number
  duplicated: number
  outOfOrder: number
  /**
   * With `conflated`: sequence numbers skipped in the middle (a later one arrived: the hub
   * conflated them), not counted as lost.
   */
  conflated: number
}

/** Tracks the sequence numbers one subscriber received. */
export class SequenceTracker {
  #max = 0
  #received = 0
  #duplicated = 0
  #outOfOrder = 0
  /** Highest `settled` of any event received: everything at or below it must come first. */
  #floor = 0
  /** Missing ranges, inclusive, ascending. */
  #gaps: Array<[number, number]> = []
  /** Conflated topic: skips are counted, not tracked (there is one per superseded event). */
  readonly #conflated: boolean
  #skipped = 0

  /**
   * With `conflated`, a skipped sequence number that a later one followed is counted as
   * conflated (the hub's `--conflate`), not lost: only missing the newest is a loss. Late
   * arrivals then fill a skip without telling which (a duplicate below the highest seen is
   * not detected).
   */
  constructor(options: { conflated?: boolean } = {}) {
    this.#conflated = options.conflated === true
  }

  /** Highest sequence number seen so far (0 before the first). */
  get max(): number {
    return this.#max
  }

  /**
   * Records one delivery of `seq`, sent when every publish up to `settled` had been
   * answered (default: the previous one, i.e. a strictly ordered publisher).
   */
  see(seq: number, settled = seq - 1): void {
    this.#received++
    const floor = this.#floor
    if (settled > this.#floor) this.#floor = settled
    if (seq === this.#max + 1) {
      this.#max = seq
      return
    }
    if (this.#conflated) {
      if (seq > this.#max) {
        this.#skipped += seq - this.#max - 1
        this.#max = seq
      } else if (seq <= floor) this.#outOfOrder++
      else if (this.#skipped > 0) this.#skipped--
      else this.#duplicated++
      return
    }
    if (seq > this.#max) {
      this.#gaps.push([this.#max + 1, seq - 1])
      this.#max = seq
      return
    }
    // At or below the highest seen: a late arrival that fills a gap, or a duplicate.
    for (let i = 0; i < this.#gaps.length; i++) {
      const gap = this.#gaps[i] as [number, number]
      if (seq < gap[0] || seq > gap[1]) continue
      if (seq <= floor) this.#outOfOrder++
      if (gap[0] === gap[1]) this.#gaps.splice(i, 1)
      else if (seq === gap[0]) gap[0]++
      else if (seq === gap[1]) gap[1]--
      else this.#gaps.splice(i, 1, [gap[0], seq - 1], [seq + 1, gap[1]])
      return
    }
    this.#duplicated++
  }

  /**
   * The counts once `1..published` were published, except the sequence numbers in
   * `notPublished` (publishes that failed), which are not expected.
   */
  counts(published: number, notPublished: ReadonlySet<number> = new Set()): SequenceCounts {
    let lost = 0
    for (const [from, to] of this.#gaps) lost += to - from + 1
    if (published > this.#max) lost += published - this.#max
    let conflated = this.#skipped
    for (const seq of notPublished) {
      if (this.#conflated && seq < this.#max) conflated--
      else if (this.#isMissing(seq, published)) lost--
    }
    return {
      received: this.#received,
      lost,
      duplicated: this.#duplicated,
      outOfOrder: this.#outOfOrder,
      conflated: Math.max(0, conflated),
    }
  }

  #isMissing(seq: number, published: number): boolean {
    if (seq > this.#max) return seq <= published
    return this.#gaps.some(([from, to]) => seq >= from && seq <= to)
  }
}
