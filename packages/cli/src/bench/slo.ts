/**
 * Service-level objectives for `--slo`: a comma-separated list of `METRIC OP VALUE[UNIT]`,
 * e.g. `p99<250ms,loss=0,reconnect>=99.9%`. A run that misses one exits 1.
 *
 * Metrics: `p50` `p95` `p99` `max` (delivery latency; `ms` or `s`, default ms), `connect`
 * (p99 connect time, ms), `loss` (lost events: a count, or `%` of the expected deliveries),
 * `duplicated`, `outOfOrder` (counts), `reconnect` (reconnect success rate, `%`),
 * `deliveries` (deliveries per second). Operators: `<` `<=` `=` `>=` `>`.
 */

/** One parsed objective. */
export interface Slo {
  /** The term as written. */
  text: string
  metric: SloMetric
  op: '<' | '<=' | '=' | '>=' | '>'
  /** Target in the metric's base unit (ms, count, percent, per second). */
  value: number
  /** `loss` in percent rather than a count. */
  percent: boolean
}

/** The metrics an objective can name. */
export type SloMetric =
  | 'p50'
  | 'p95'
  | 'p99'
  | 'max'
  | 'connect'
  | 'loss'
  | 'duplicated'
  | 'outOfOrder'
  | 'reconnect'
  | 'deliveries'

/** The figures objectives are checked against. */
export interface SloFigures {
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  connectP99Ms: number
  lost: number
  expected: number
  duplicated: number
  outOfOrder: number
  /** Percent; 100 when nothing needed a reconnect. */
  reconnectSuccessRate: number
  deliveriesPerSec: number
}

/** A checked objective. */
export interface SloResult {
  slo: string
  actual: number
  ok: boolean
}

const ALIASES: Record<string, SloMetric> = {
  p50: 'p50',
  p95: 'p95',
  p99: 'p99',
  max: 'max',
  connect: 'connect',
  loss: 'loss',
  lost: 'loss',
  duplicated: 'duplicated',
  dup: 'duplicated',
  outoforder: 'outOfOrder',
  ooo: 'outOfOrder',
  reconnect: 'reconnect',
  reconnects: 'reconnect',
  deliveries: 'deliveries',
  deliveriespersec: 'deliveries',
}

const TIME: ReadonlySet<SloMetric> = new Set(['p50', 'p95', 'p99', 'max', 'connect'])

/** Parses a spec; throws a `TypeError` naming the bad term. */
export function parseSlo(spec: string): Slo[] {
  const out: Slo[] = []
  for (const raw of spec.split(',')) {
    const text = raw.trim()
    if (text === '') continue
    const match = /^([A-Za-z0-9]+)\s*(<=|>=|==|<|>|=)\s*(\d+(?:\.\d+)?)\s*(ms|s|%|\/s)?$/.exec(text)
    const metric = match ? ALIASES[(match[1] as string).toLowerCase()] : undefined
    if (match === null || metric === undefined) {
      throw new TypeError(
        `--slo: cannot read ${JSON.stringify(text)} (expected METRIC OP VALUE, e.g. p99<250ms; metrics: p50 p95 p99 max connect loss duplicated outOfOrder reconnect deliveries)`,
      )
    }
    const op = (match[2] === '==' ? '=' : match[2]) as Slo['op']
    const unit = match[4]
    let value = Number(match[3])
    if (TIME.has(metric)) {
      if (unit !== undefined && unit !== 'ms' && unit !== 's')
        throw new TypeError(`--slo: ${text}: a latency takes ms or s`)
      if (unit === 's') value *= 1000
    } else if (metric === 'reconnect') {
      if (unit !== '%') throw new TypeError(`--slo: ${text}: the reconnect success rate is a %`)
    } else if (metric === 'deliveries') {
      if (unit !== undefined && unit !== '/s')
        throw new TypeError(`--slo: ${text}: deliveries are per second`)
    } else if (unit !== undefined && !(metric === 'loss' && unit === '%')) {
      throw new TypeError(
        `--slo: ${text}: ${metric} is a count${metric === 'loss' ? ' or a %' : ''}`,
      )
    }
    out.push({ text, metric, op, value, percent: metric === 'loss' && unit === '%' })
  }
  if (out.length === 0) throw new TypeError('--slo: no objective given')
  return out
}

function actual(slo: Slo, f: SloFigures): number {
  switch (slo.metric) {
    case 'p50':
      return f.p50Ms
    case 'p95':
      return f.p95Ms
    case 'p99':
      return f.p99Ms
    case 'max':
      return f.maxMs
    case 'connect':
      return f.connectP99Ms
    case 'loss':
      return slo.percent ? (f.expected === 0 ? 0 : (f.lost / f.expected) * 100) : f.lost
    case 'duplicated':
      return f.duplicated
    case 'outOfOrder':
      return f.outOfOrder
    case 'reconnect':
      return f.reconnectSuccessRate
    case 'deliveries':
      return f.deliveriesPerSec
  }
}

/** Checks every objective against the figures. */
export function checkSlos(slos: readonly Slo[], figures: SloFigures): SloResult[] {
  return slos.map((slo) => {
    const value = actual(slo, figures)
    const ok =
      slo.op === '<'
        ? value < slo.value
        : slo.op === '<='
          ? value <= slo.value
          : slo.op === '='
            ? value === slo.value
            : slo.op === '>='
              ? value >= slo.value
              : value > slo.value
    return { slo: slo.text, actual: value, ok }
  })
}
