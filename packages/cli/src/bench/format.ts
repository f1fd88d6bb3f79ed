/**
 * Human output of `herald bench`: a live progress line for a terminal, and the summary.
 */
import type { BenchProgress, BenchResult } from './run-bench.js'

const n = (v: number) => v.toLocaleString('en-US')

/** One progress line (no newline). */
export function progressLine(p: BenchProgress): string {
  if (p.phase === 'connecting') {
    return `  ${p.elapsedS.toFixed(0).padStart(4)}s  connecting ${n(p.connected)}/${n(p.subscribers)}`
  }
  return `  ${p.elapsedS.toFixed(0).padStart(4)}s  ${p.phase}  ${n(p.connected)}/${n(p.subscribers)} open  ${n(p.deliveriesPerSec)} deliveries/s  p99 ${p.p99Ms} ms  ${n(p.published)} published`
}

/** Rows of `label  value` for the summary. */
export function summaryRows(r: BenchResult): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['target', r.target],
    [
      'subscribers',
      `${n(r.connected)} connected of ${n(r.subscribers)} (connect p50 ${r.connectP50Ms} ms, p99 ${r.connectP99Ms} ms)`,
    ],
    [
      'published',
      `${n(r.published)} events at ${n(r.publishedPerSec)}/s (asked ${n(r.rate)}/s), ${r.payloadBytes} B, ${n(r.publishFailed)} failed, publish p99 ${r.publishP99Ms} ms`,
    ],
    [
      'delivered',
      `${n(r.delivered)} of ${n(r.expected)} expected; ${n(r.deliveriesPerSec)} deliveries/s; ${n(r.frames)} frames, ${n(r.bytes)} bytes`,
    ],
    ['latency', `p50 ${r.p50Ms} ms  p95 ${r.p95Ms} ms  p99 ${r.p99Ms} ms  max ${r.maxMs} ms`],
    [
      'integrity',
      `lost ${n(r.lost)} (${n(r.lossySubscribers)} subscribers)  duplicated ${n(r.duplicated)}  out of order ${n(r.outOfOrder)}${r.conflated > 0 ? `  conflated ${n(r.conflated)}` : ''}`,
    ],
    [
      'reconnects',
      `${n(r.reconnects)} of ${n(r.reconnectAttempts)} attempts succeeded (${r.reconnectSuccessRate}%)`,
    ],
    [
      'generator',
      `${r.subscriberProcesses} subscriber process(es) at ${r.subscriberCpuPct}% of a core each (near 100: the generator, not the server, is the limit)`,
    ],
  ]
  if (r.serverCpuPct !== null) {
    rows.push([
      'server',
      `CPU ${r.serverCpuPct}% of a core, RSS ${r.serverRssMb} MB (peak ${r.serverRssPeakMb} MB)`,
    ])
  }
  for (const s of r.slo)
    rows.push(['slo', `${s.ok ? 'ok  ' : 'MISS'} ${s.slo} (actual ${s.actual})`])
  rows.push(['verdict', r.ok ? 'PASS' : `FAIL: ${r.failures.join('; ')}`])
  return rows
}

/** The summary as text. */
export function formatSummary(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length))
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`
}

/** The `--json` object: the result without the chart data. */
export function jsonResult(r: BenchResult): Record<string, unknown> {
  const { histogram: _h, timeline: _t, ...rest } = r
  return rest
}
