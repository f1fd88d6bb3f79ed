/**
 * Human output of `herald chaos`: the verdict table, the faults and the failing subscribers.
 */
import type { ChaosResult } from './run-chaos.js'

const n = (v: number) => v.toLocaleString('en-US')

/** Verdict rows (check, result). */
export function verdictRows(r: ChaosResult): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    [
      'setup',
      `${r.store} · ${r.nodes} node${r.nodes === 1 ? '' : 's'}${r.workers === null ? '' : ` × ${r.workers} workers`} · ${r.subscribers} subscribers (@herald/client) · ${r.rate}/s for ${r.durationS} s`,
    ],
    [
      'published',
      `${n(r.published)} acknowledged (${n(r.publishRetries)} attempts retried)${r.logEvents === null ? '' : `, ${n(r.logEvents)} in the log`}`,
    ],
    ['lost', `${r.lost === 0 ? 'ok  ' : 'FAIL'} ${n(r.lost)} (${r.lossySubscribers} subscribers)`],
    ['duplicated', `${r.duplicated === 0 ? 'ok  ' : 'FAIL'} ${n(r.duplicated)} after dedupe`],
    ['order', `${r.outOfOrder === 0 ? 'ok  ' : 'FAIL'} ${n(r.outOfOrder)} out of order`],
    [
      'durable',
      r.ackedMissingFromLog === null
        ? 'FAIL the log could not be replayed'
        : `${r.ackedMissingFromLog === 0 ? 'ok  ' : 'FAIL'} ${n(r.ackedMissingFromLog)} acknowledged publishes missing from the log`,
    ],
    [
      'recovery',
      r.maxRecoveryMs === null
        ? 'n/a'
        : `worst ${n(r.maxRecoveryMs)} ms from a fault's end to every subscriber live again`,
    ],
    [
      'memory',
      r.memory === null
        ? 'n/a'
        : `${r.memory.ok ? 'ok  ' : 'FAIL'} ${r.memory.endMb} MB at the end, baseline ${r.memory.baselineMb} MB (limit ${r.memory.limitMb} MB)`,
    ],
    [
      'latency',
      `p50 ${r.p50Ms} ms  p95 ${r.p95Ms} ms  p99 ${r.p99Ms} ms  max ${r.maxMs} ms (publish to delivery, faults included)`,
    ],
    ['reconnects', `${n(r.reconnects)} (${n(r.deliveriesPerSec)} deliveries/s)`],
    ['verdict', r.ok ? 'PASS' : `FAIL: ${r.failures.join('; ')}`],
  ]
  return rows
}

/** Fault table rows. */
export function faultRows(r: ChaosResult): string[][] {
  return r.faults.map((f) => [
    `${f.startS.toFixed(1)}s`,
    f.kind,
    f.detail,
    f.recoveryMs === null ? '-' : `${n(f.recoveryMs)} ms`,
  ])
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** The whole human summary. */
export function formatChaos(r: ChaosResult): string {
  const parts = [
    table(['at', 'fault', 'what', 'recovery'], faultRows(r)),
    '',
    table(
      ['check', 'result'],
      verdictRows(r).map(([k, v]) => [k, v]),
    ),
  ]
  if (r.worst.length > 0) {
    parts.push(
      '',
      table(
        ['subscriber', 'received', 'lost', 'dup', 'order', 'reconnects', 'first missing'],
        r.worst.map((w) => [
          w.name,
          n(w.received),
          n(w.lost),
          n(w.duplicated),
          n(w.outOfOrder),
          n(w.reconnects),
          w.firstMissing === null ? '-' : String(w.firstMissing),
        ]),
      ),
    )
  }
  return `${parts.join('\n')}\n`
}

/** The `--json` object: the result without the chart data. */
export function chaosJson(r: ChaosResult): Record<string, unknown> {
  const { timeline: _t, histogram: _h, ...rest } = r
  return rest
}
