/**
 * "Did you mean": the candidate closest to a mistyped name, by edit distance (an adjacent
 * swap counts as one edit), or undefined when none is close enough to be a typo.
 */

/** Optimal string alignment distance between `a` and `b`. */
function distance(a: string, b: string): number {
  const rows: number[][] = []
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i]
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j)
        continue
      }
      const prev = rows[i - 1] as number[]
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      )
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1)
      }
      row.push(d)
    }
    rows.push(row)
  }
  return (rows[a.length] as number[])[b.length] as number
}

/**
 * The candidate nearest to `name` (case-insensitive), when it is within a third of the
 * name's length (at least one edit).
 */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  const wanted = name.toLowerCase()
  let best: string | undefined
  let bestDistance = Math.max(1, Math.floor(wanted.length / 3))
  for (const candidate of candidates) {
    const d = distance(wanted, candidate.toLowerCase())
    if (d <= bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}
