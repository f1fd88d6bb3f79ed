/**
 * Per-subscriber bookkeeping of sequence numbers: what arrived, what is missing, what came
 * twice or late. Events normally arrive in order, so the state is the highest sequence seen
 * plus a (usually empty) list of missing ranges; a bitmap per subscriber would cost
 * megabytes at 15k subscribers.
 */

/** Counts of one subscriber, or of many added together. */
export interface SequenceCounts {
  received: number
  lost: number
  duplicated: number
  outOfOrder: number
}

/** Tracks the sequence numbers one subscriber received. */
export class SequenceTracker {
  #max = 0
  #received = 0
  #duplicated = 0
  #outOfOrder = 0
  /** Missing ranges, inclusive, ascending. */
  #gaps: Array<[number, number]> = []

  /** Highest sequence number seen so far (0 before the first). */
  get max(): number {
    return this.#max
  }

  /** Records one delivery of `seq`. */
  see(seq: number): void {
    this.#received++
    if (seq === this.#max + 1) {
      this.#max = seq
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
      this.#outOfOrder++
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
    for (const seq of notPublished) if (this.#isMissing(seq, published)) lost--
    return {
      received: this.#received,
      lost,
      duplicated: this.#duplicated,
      outOfOrder: this.#outOfOrder,
    }
  }

  #isMissing(seq: number, published: number): boolean {
    if (seq > this.#max) return seq <= published
    return this.#gaps.some(([from, to]) => seq >= from && seq <= to)
  }
}
