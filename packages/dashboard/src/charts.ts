/**
 * Time-series charts on uPlot (about 50 KB, canvas): colours come from the page's CSS
 * variables, so a theme switch rebuilds them; a ResizeObserver keeps them at their box width.
 */
import uPlot from 'uplot'

/** One line of a chart. */
export interface LineSpec {
  label: string
  /** CSS variable holding the colour, e.g. `--s1`. */
  colour: string
  fill?: boolean
}

/** A live chart: give it the whole window of data each time. */
export interface Chart {
  setData(data: uPlot.AlignedData): void
  /** Changes the lines (the chart is rebuilt only when they differ from the current ones). */
  setLines(lines: readonly LineSpec[]): void
  rebuild(): void
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888888'
}

/** `#rrggbb` at `alpha` as `rgba()`: canvas fills do not take every CSS colour syntax. */
function withAlpha(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex)
  if (m === null) return hex
  const [r, g, b] = [m[1], m[2], m[3]].map((h) => Number.parseInt(h ?? '0', 16))
  return `rgba(${r}, ${g}, ${b}, ${alpha})`
}

const axisNumber = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 2 })

/** Axis ticks without units (the caption names them): `0.25`, `12`, `1.5K`. */
function tick(n: number): string {
  return axisNumber.format(n)
}

/** `HH:MM:SS` of a uPlot time (seconds since the epoch). */
function clock(seconds: number): string {
  const d = new Date(seconds * 1000)
  return [d.getHours(), d.getMinutes(), d.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':')
}

/** Creates a chart in `el` with `lines`; `value` formats the legend's values. */
export function createChart(
  el: HTMLElement,
  initialLines: readonly LineSpec[],
  value: (n: number | null) => string,
): Chart {
  let lines = initialLines
  let plot: uPlot | undefined
  let data: uPlot.AlignedData = [[], ...lines.map(() => [])]

  function build(): void {
    plot?.destroy()
    const ink = cssVar('--muted')
    const grid = cssVar('--grid')
    const axis = {
      stroke: ink,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
    }
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: Math.max(120, el.clientHeight - 28),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        { ...axis, space: 80, values: (_u, ticks) => ticks.map(clock) },
        { ...axis, size: 48, values: (_u, ticks) => ticks.map((t) => tick(t)) },
      ],
      series: [
        { label: 'time', value: (_u: uPlot, v: number | null) => (v === null ? '–' : clock(v)) },
        ...lines.map((line) => {
          const colour = cssVar(line.colour)
          return {
            label: line.label,
            stroke: colour,
            width: 2,
            points: { show: false },
            value: (_u: uPlot, v: number | null) => value(v),
            ...(line.fill === true ? { fill: withAlpha(colour, 0.12) } : {}),
          }
        }),
      ],
    }
    plot = new uPlot(opts, data, el)
  }

  build()
  new ResizeObserver(() => {
    plot?.setSize({
      width: Math.max(200, el.clientWidth),
      height: Math.max(120, el.clientHeight - 28),
    })
  }).observe(el)

  return {
    setData(next) {
      data = next
      if (plot === undefined) return
      plot.setData(next)
      // Off the chart, the legend shows the latest values instead of dashes.
      const left = plot.cursor.left
      const last = (next[0]?.length ?? 0) - 1
      if ((left === undefined || left < 0) && last >= 0) plot.setLegend({ idx: last }, false)
    },
    setLines(next) {
      const same =
        next.length === lines.length &&
        next.every((l, i) => l.label === lines[i]?.label && l.colour === lines[i]?.colour)
      if (same) return
      lines = next
      data = [data[0] ?? [], ...lines.map(() => [])]
      build()
    },
    rebuild: build,
  }
}
