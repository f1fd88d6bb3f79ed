/**
 * The self-contained HTML report shared by `herald bench --report` and `herald chaos
 * --report`: uPlot's script and stylesheet are inlined from the installed `uplot` package
 * (no CDN: the page opens offline, from a CI artifact, years later), the data travels as
 * JSON in the page.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

/** One line chart over time. */
export interface ReportChart {
  title: string
  unit: string
  series: Array<{ label: string; values: Array<number | null>; color: string }>
}

/** What a report page shows. */
export interface ReportPage {
  title: string
  /** One line under the title: what ran, when. */
  subtitle: string
  ok: boolean
  /** Verdict headline, e.g. "PASS: 0 lost". */
  headline: string
  /** Summary rows (label, value). */
  rows: Array<[string, string]>
  /** Extra tables (e.g. chaos faults). */
  tables: Array<{ title: string; head: string[]; rows: string[][]; bad?: boolean[] }>
  /** Latency distribution: `[bucketLowMs, count]`. */
  histogram: Array<[number, number]>
  /** Seconds since the start, shared by every chart. */
  x: number[]
  charts: ReportChart[]
  /** Shaded time ranges on the charts (faults). */
  bands: Array<{ from: number; to: number; label: string }>
}

const require = createRequire(import.meta.url)
let uplot: { js: string; css: string } | undefined

function uplotAssets(): { js: string; css: string } {
  uplot ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  }
  return uplot
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** JSON that is safe inside a `<script>` element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c')

const STYLE = `
:root { --ok: #137333; --bad: #c5221f; --ink: #202124; --muted: #5f6368; --line: #dadce0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f8f9fa; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
header { display: flex; align-items: center; gap: 16px; margin-bottom: 4px; }
h1 { font-size: 22px; margin: 0; }
.sub { color: var(--muted); margin: 0 0 16px; }
.badge { font-weight: 700; padding: 4px 12px; border-radius: 999px; color: #fff; letter-spacing: .04em; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }
.headline { font-size: 16px; margin: 0 0 16px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; }
h2 { font-size: 15px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #f1f3f4; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.k { color: var(--muted); white-space: nowrap; width: 1%; }
tr.bad td { color: var(--bad); font-weight: 600; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.grid section { margin: 0; }
.chart { min-height: 240px; }
footer { color: var(--muted); font-size: 12px; margin-top: 8px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
`

// Runs in the page. Plain ES2017, no framework.
const SCRIPT = `
const page = JSON.parse(document.getElementById('data').textContent);
const bandHook = (u) => {
  const ctx = u.ctx;
  ctx.save();
  page.bands.forEach((b, i) => {
    const x0 = u.valToPos(b.from, 'x', true), x1 = u.valToPos(b.to, 'x', true);
    ctx.fillStyle = 'rgba(234, 67, 53, 0.12)';
    ctx.fillRect(x0, u.bbox.top, Math.max(3 * devicePixelRatio, x1 - x0), u.bbox.height);
    ctx.fillStyle = 'rgba(197, 34, 31, 0.9)';
    ctx.font = (11 * devicePixelRatio) + 'px system-ui, sans-serif';
    // Alternate two label rows so neighbouring faults do not overprint each other.
    ctx.fillText(b.label, x0 + 3 * devicePixelRatio, u.bbox.top + (12 + (i % 2) * 13) * devicePixelRatio);
  });
  ctx.restore();
};
function width(el) { return Math.max(300, el.clientWidth - 8); }
const charts = [];
for (const [i, c] of page.charts.entries()) {
  const el = document.getElementById('chart-' + i);
  charts.push([el, new uPlot({
    width: width(el), height: 220,
    scales: { x: { time: false } },
    axes: [{ label: 'seconds' }, { label: c.unit, size: 60 }],
    series: [{ label: 't' }, ...c.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: false, points: { show: false } }))],
    hooks: { drawClear: [bandHook] },
  }, [page.x, ...c.series.map((s) => s.values)], el)]);
}
const hist = document.getElementById('histogram');
if (hist && page.histogram.length > 0) {
  const labels = page.histogram.map((r) => r[0]);
  const sig = (v) => String(Number(v.toPrecision(2)));
  const fmt = (v) => v >= 1000 ? sig(v / 1000) + ' s' : v >= 1 ? sig(v) + ' ms' : sig(v * 1000) + ' µs';
  charts.push([hist, new uPlot({
    width: width(hist), height: 220,
    scales: { x: { time: false } },
    axes: [
      { label: 'delivery latency (bucket lower bound)', values: (u, ticks) => ticks.map((t) => labels[t] === undefined ? '' : fmt(labels[t])) },
      { label: 'deliveries', size: 70 },
    ],
    series: [{ label: 'bucket', value: (u, v) => v == null || labels[v] === undefined ? '-' : '≥ ' + fmt(labels[v]) },
      { label: 'deliveries', stroke: '#1a73e8', fill: 'rgba(26,115,232,0.35)', paths: uPlot.paths.bars({ size: [0.9, 40] }), points: { show: false } }],
  }, [labels.map((_, i) => i), page.histogram.map((r) => r[1])], hist)]);
}
addEventListener('resize', () => { for (const [el, u] of charts) u.setSize({ width: width(el), height: 220 }); });
`

function rowsTable(rows: Array<[string, string]>): string {
  return `<table>${rows.map(([k, v]) => `<tr class="${v.startsWith('MISS') || v.startsWith('FAIL') ? 'bad' : ''}"><td class="k">${escapeHtml(k)}</td><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`
}

/** Renders the page. */
export function renderReportPage(page: ReportPage): string {
  const { js, css } = uplotAssets()
  const tables = page.tables
    .map(
      (t) =>
        `<section><h2>${escapeHtml(t.title)}</h2><table><tr>${t.head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>${t.rows
          .map(
            (r, i) =>
              `<tr class="${t.bad?.[i] ? 'bad' : ''}">${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`,
          )
          .join('')}</table></section>`,
    )
    .join('')
  const charts = page.charts
    .map(
      (c, i) =>
        `<section><h2>${escapeHtml(c.title)}</h2><div class="chart" id="chart-${i}"></div></section>`,
    )
    .join('')
  const histogram =
    page.histogram.length > 0
      ? `<section><h2>Delivery latency distribution</h2><div class="chart" id="histogram"></div></section>`
      : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${css}</style><style>${STYLE}</style></head>
<body><main>
<header><h1>${escapeHtml(page.title)}</h1><span class="badge ${page.ok ? 'ok' : 'bad'}">${page.ok ? 'PASS' : 'FAIL'}</span></header>
<p class="sub">${escapeHtml(page.subtitle)}</p>
<p class="headline">${escapeHtml(page.headline)}</p>
<section><h2>Verdict</h2>${rowsTable(page.rows)}</section>
${tables}
<div class="grid">${histogram}${charts}</div>
<footer>Self-contained report: charts by uPlot (MIT), inlined.</footer>
</main>
<script>${js}</script>
<script type="application/json" id="data">${scriptJson(page)}</script>
<script>${SCRIPT}</script>
</body></html>
`
}
