/**
 * Latency histograms: HdrHistogram (hdr-histogram-js) in microseconds, 3 significant digits,
 * so a subscriber process records every delivery for ~0.2 µs and the parent merges the
 * processes' histograms exactly (they travel as compressed base64 over IPC).
 */
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js'

/** Creates an empty latency histogram (1 µs .. 1 h). */
export function createLatencyHistogram(): Histogram {
  return build({
    bitBucketSize: 64,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  })
}

/** Records `ms` (clamped to at least 1 µs). */
export function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(Math.max(1, Math.round(ms * 1000)))
}

/** Serialises a histogram for IPC. */
export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram)
}

/** Adds a serialised histogram into `into`. */
export function mergeHistogram(into: Histogram, encoded: string): void {
  into.add(decodeFromCompressedBase64(encoded, 64, false))
}

/** Percentiles and max in milliseconds (0 for an empty histogram). */
export interface LatencySummary {
  count: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
}

const ms = (us: number) => Math.round(us) / 1000

/** Summarises a histogram in milliseconds. */
export function summarize(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0 }
  return {
    count: histogram.totalCount,
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p95Ms: ms(histogram.getValueAtPercentile(95)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    maxMs: ms(histogram.maxValue),
  }
}

/** Coarse log-scale bucket counts for the report's histogram chart: 10 per decade, 10 µs .. 1000 s. */
export const BUCKETS = 80

/** Lower bound in ms of coarse bucket `i`. */
export function bucketLowMs(i: number): number {
  return 0.01 * 10 ** (i / 10)
}

/** The coarse bucket of a latency. */
export function bucketOf(ms: number): number {
  if (!(ms > 0.01)) return 0
  return Math.min(BUCKETS - 1, Math.floor(Math.log10(ms / 0.01) * 10))
}

export type { Histogram }
