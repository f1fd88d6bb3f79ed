/**
 * One labelled series of a prom-client histogram, observed on a hot path for the cost of a
 * few additions: prom-client checks and hashes the labels on every observation, even through
 * a cached child (about 1 us of a 30 us publish). Observations are added up here and merged
 * into the histogram's own series when it is read (its `collect`), so `/metrics` shows exactly
 * what observing through prom-client would have shown.
 */
import type { Histogram, LabelValues } from 'prom-client'

/** A series observed here, merged into its histogram on read. */
export interface PendingSeries {
  /** Records one observation (a non-finite value is ignored: prom-client would throw). */
  observe(value: number): void
  /** Adds what was observed since the last merge to the histogram. Call from its `collect`. */
  merge(): void
}

/** prom-client's per-series record (lib/histogram.js `createBaseValues`). */
interface SeriesValues {
  labels: LabelValues<string>
  sum: number
  count: number
  bucketValues: Record<number, number>
}

function sameLabels(a: LabelValues<string>, b: LabelValues<string>): boolean {
  const keys = Object.keys(b)
  if (Object.keys(a).length !== keys.length) return false
  for (const key of keys) if (String(a[key]) !== String(b[key])) return false
  return true
}

/**
 * Creates the pending series `labels` of `histogram`, whose bucket upper bounds are
 * `buckets` (the ones the histogram was made with, ascending).
 */
export function createPendingSeries(
  histogram: Histogram<string>,
  labels: LabelValues<string>,
  buckets: readonly number[],
): PendingSeries {
  const counts = new Float64Array(buckets.length)
  let sum = 0
  let count = 0
  // The series is made in the histogram at the first observation, as prom-client would make
  // it: series are exposed in the order they were first observed.
  let made = false

  function series(): SeriesValues | undefined {
    const map = (histogram as unknown as { hashMap?: Record<string, SeriesValues> }).hashMap
    if (map === undefined) return undefined
    for (const key in map) {
      const values = map[key] as SeriesValues
      if (sameLabels(values.labels, labels)) return values
    }
    return undefined
  }

  return {
    observe(value) {
      if (!Number.isFinite(value)) return
      if (!made) {
        made = true
        if (series() === undefined) histogram.zero(labels)
      }
      sum += value
      count++
      // The first bound at or above the value (prom-client's findBound); above all: none.
      for (let i = 0; i < buckets.length; i++) {
        if (value <= (buckets[i] as number)) {
          counts[i] = (counts[i] as number) + 1
          break
        }
      }
    },
    merge() {
      if (count === 0) return
      let values = series()
      if (values === undefined) {
        histogram.zero(labels)
        values = series()
      }
      if (values === undefined) {
        // Not the prom-client this was written against: never lose the figures.
        throw new Error('pending histogram: cannot find the series to merge into')
      }
      values.sum += sum
      values.count += count
      for (let i = 0; i < buckets.length; i++) {
        const bound = buckets[i] as number
        values.bucketValues[bound] = (values.bucketValues[bound] ?? 0) + (counts[i] as number)
      }
      counts.fill(0)
      sum = 0
      count = 0
    },
  }
}
