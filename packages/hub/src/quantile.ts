/** Quantiles from Prometheus-style cumulative histogram buckets. */

/**
 * The `q` quantile of the observations between two cumulative bucket snapshots, by linear
 * interpolation inside the bucket (as Prometheus' `histogram_quantile`). `null`: none.
 */
export function quantileFromBuckets(
  before: ReadonlyArray<readonly [number, number]>,
  after: ReadonlyArray<readonly [number, number]>,
  q: number,
): number | null {
  const prior = new Map(before)
  const counts = after.map(([le, c]) => [le, c - (prior.get(le) ?? 0)] as const)
  const n = counts.at(-1)?.[1] ?? 0
  if (n <= 0) return null
  const rank = q * n
  let lower = 0
  let below = 0
  for (const [le, cumulative] of counts) {
    if (cumulative >= rank) {
      if (!Number.isFinite(le)) return lower
      const inBucket = cumulative - below
      return inBucket === 0 ? le : lower + ((le - lower) * (rank - below)) / inBucket
    }
    lower = le
    below = cumulative
  }
  return lower
}
