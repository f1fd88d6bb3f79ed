/**
 * `herald bench --report FILE.html`: the benchmark's report page.
 */
import { summaryRows } from './format.js'
import { type ReportChart, renderReportPage } from './report-page.js'
import type { BenchResult } from './run-bench.js'

/** Renders a benchmark result as a self-contained HTML page. */
export function renderBenchReport(r: BenchResult, when = new Date()): string {
  const x = r.timeline.map((row) => row.t)
  const charts: ReportChart[] = [
    {
      title: 'Deliveries per second',
      unit: 'events/s',
      series: [
        {
          label: 'delivered/s',
          values: r.timeline.map((t) => t.deliveriesPerSec),
          color: '#1a73e8',
        },
      ],
    },
    {
      title: 'Delivery latency over time',
      unit: 'ms',
      series: [
        { label: 'p50', values: r.timeline.map((t) => t.p50Ms), color: '#188038' },
        { label: 'p99', values: r.timeline.map((t) => t.p99Ms), color: '#e37400' },
      ],
    },
    {
      title: 'Open connections',
      unit: 'subscribers',
      series: [
        { label: 'open', values: r.timeline.map((t) => t.connected), color: '#9334e6' },
        { label: 'reconnects/s', values: r.timeline.map((t) => t.reconnects), color: '#c5221f' },
      ],
    },
  ]
  if (r.timeline.some((t) => t.serverRssMb !== null)) {
    charts.push({
      title: 'Server CPU and memory',
      unit: '% of a core / MB',
      series: [
        { label: 'CPU %', values: r.timeline.map((t) => t.serverCpuPct), color: '#e37400' },
        { label: 'RSS MB', values: r.timeline.map((t) => t.serverRssMb), color: '#5f6368' },
      ],
    })
  }
  return renderReportPage({
    title: 'herald bench',
    subtitle: `${r.target} · ${r.subscribers.toLocaleString('en-US')} subscribers · ${r.rate}/s for ${r.durationS} s · ${when.toISOString()}`,
    ok: r.ok,
    headline: r.ok
      ? `Every subscriber got every event once and in order; p99 ${r.p99Ms} ms at ${r.deliveriesPerSec.toLocaleString('en-US')} deliveries/s.`
      : r.failures.join('; '),
    rows: summaryRows(r),
    tables: [],
    histogram: r.histogram,
    x,
    charts,
    bands: [],
  })
}
