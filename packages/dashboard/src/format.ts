/** Number and time formatting for the dashboard: compact, tabular, never `NaN`. */

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 })
const plain = new Intl.NumberFormat('en', { maximumFractionDigits: 0 })

/** `12`, `1,234`, `12.3K` (compact from 10 000 up). `–` for missing values. */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–'
  return Math.abs(n) >= 10_000 ? compact.format(n) : plain.format(n)
}

/** Events per second: one decimal under 10, else as {@link count}. */
export function rate(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–'
  if (n > 0 && n < 10) return n.toFixed(1)
  return count(n)
}

/** Milliseconds: `0.42 ms`, `12 ms`, `1.3 s`. */
export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–'
  if (n < 1) return `${n.toFixed(2)} ms`
  if (n < 100) return `${n.toFixed(1)} ms`
  if (n < 1000) return `${Math.round(n)} ms`
  return `${(n / 1000).toFixed(1)} s`
}

/** Bytes: `512 B`, `12 KiB`, `1.2 MiB`. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–'
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

/** How long ago `t` (ms since the epoch) was, from `now`: `42 s`, `5 min`, `3 h 10 min`. */
export function age(t: number, now: number): string {
  const s = Math.max(0, Math.round((now - t) / 1000))
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h} h ${m % 60} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}
