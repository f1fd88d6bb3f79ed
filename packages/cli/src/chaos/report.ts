/**
 * `herald chaos --report FILE.html`: the soak's report page, faults shaded on the charts.
 */
import { renderReportPage } from '../bench/report-page.js'
import { faultRows, verdictRows } from './format.js'
import type { ChaosResult } from './run-chaos.js'

/** Renders a chaos result as a self-contained HTML page. */
export function renderChaosReport(r: ChaosResult, when = new Date()): string {
  const t = r.timeline
  return renderReportPage({
    title: 'herald chaos',
    subtitle: `${r.store} · ${r.nodes} node(s)${r.workers === null ? '' : ` × ${r.workers} workers`} · ${r.subscribers} subscribers · ${r.rate}/s for ${r.durationS} s · ${when.toISOString()}`,
    ok: r.ok,
    headline: r.ok
      ? `${r.faults.length} faults injected; every subscriber got all ${r.published.toLocaleString('en-US')} events once, in order.`
      : r.failures.join('; '),
    rows: verdictRows(r),
    tables: [
      {
        title: 'Faults injected',
        head: ['at', 'fault', 'what', 'recovery'],
        rows: faultRows(r),
        bad: r.faults.map((f) => f.recoveryMs === null && f.kind !== 'worker-kill'),
      },
      ...(r.worst.length === 0
        ? []
        : [
            {
              title: 'Subscribers that failed',
              head: [
                'subscriber',
                'received',
                'lost',
                'duplicated',
                'out of order',
                'reconnects',
                'first missing',
              ],
              rows: r.worst.map((w) => [
                w.name,
                String(w.received),
                String(w.lost),
                String(w.duplicated),
                String(w.outOfOrder),
                String(w.reconnects),
                String(w.firstMissing ?? '-'),
              ]),
              bad: r.worst.map(() => true),
            },
          ]),
    ],
    histogram: r.histogram,
    x: t.map((row) => row.t),
    charts: [
      {
        title: 'Deliveries per second',
        unit: 'events/s',
        series: [
          { label: 'delivered/s', values: t.map((row) => row.deliveriesPerSec), color: '#1a73e8' },
        ],
      },
      {
        title: 'Delivery latency p99 (publish to delivery)',
        unit: 'ms',
        series: [{ label: 'p99', values: t.map((row) => row.p99Ms), color: '#e37400' }],
      },
      {
        title: 'Connections through the fault proxy',
        unit: 'connections',
        series: [{ label: 'open', values: t.map((row) => row.connected), color: '#9334e6' }],
      },
      {
        title: 'Acknowledged publishes per second',
        unit: 'events/s',
        series: [
          {
            label: 'acknowledged/s',
            values: t.map((row) => row.publishedPerSec),
            color: '#188038',
          },
        ],
      },
      {
        title: 'Hub memory (RSS of the hub processes)',
        unit: 'MB',
        series: [{ label: 'RSS MB', values: t.map((row) => row.hubRssMb), color: '#5f6368' }],
      },
    ],
    bands: r.faults.map((f) => ({
      from: f.startS,
      to: Math.max(f.endS, f.startS + 0.3),
      label: f.kind,
    })),
  })
}
