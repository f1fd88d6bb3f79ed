/**
 * `herald bench`: wiring only (flags to options, output, exit code); the engine is
 * ../bench/run-bench.ts.
 */
import { writeFileSync } from 'node:fs'
import { formatSummary, jsonResult, progressLine, summaryRows } from '../bench/format.js'
import { renderBenchReport } from '../bench/report.js'
import { runBench } from '../bench/run-bench.js'
import { parseSlo, type Slo } from '../bench/slo.js'
import { parseCommandArgs } from './args.js'

export const benchUsage = `Usage: herald bench [--url SUBSCRIBE_URL --publish-url URL] [options]

Opens N synthetic subscribers on raw sockets (several processes past 5000), publishes
sequence-numbered events at a fixed rate, and reports delivery latency, deliveries/s, lost,
duplicated and out-of-order events per subscriber, reconnects, and the server's CPU and
memory. Without --url it starts its own hub. With --url the topic is the URL's 'topic'
parameter and events are POSTed to --publish-url as {"topic","data"}.
Exit 0: every subscriber got every event once, in order, and every SLO held; 1: loss or a
missed SLO; 2: usage error.

Options:
  --url URL             subscribe URL of the server under test (http:)
  --publish-url URL     where to POST events (required with --url)
  --subscribers N       synthetic subscribers (default 100)
  --rate N              events per second (default 100)
  --duration SECONDS    seconds of publishing (default 10)
  --payload BYTES       bytes of event data (default 128)
  --warmup SECONDS      first seconds left out of latency and deliveries/s (default 1)
  --slo SPEC            e.g. 'p99<250ms,loss=0,reconnect>=99.9%' (metrics: p50 p95 p99 max
                        connect loss duplicated outOfOrder reconnect deliveries)
  --json                print one JSON object (last line) instead of the summary
  --report FILE.html    write a self-contained HTML report (charts and verdict)
  --pid PID             server process to sample for CPU and RSS (own hub: automatic)
  --store STORE         store of the own hub: sqlite (temporary file, default) | memory
  --token TOKEN         bearer token for subscribe and publish [HERALD_TOKEN]
  --publish-format F    json (default) | raw (POST the bare payload, e.g. to nchan)
  --per-process N       subscribers per process (default 5000; ulimit -n bounds it)
  --conflated           the topic conflates on the hub (herald serve --conflate): a skipped
                        event a later one followed counts as conflated, not lost`

function positiveInt(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback
  const v = Number(value)
  if (!Number.isInteger(v) || v < min)
    throw new TypeError(`--${name} must be an integer >= ${min}, not ${JSON.stringify(value)}`)
  return v
}

function positiveNumber(
  name: string,
  value: string | undefined,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback
  const v = Number(value)
  if (!Number.isFinite(v) || v < min || value.trim() === '')
    throw new TypeError(`--${name} must be a number >= ${min}, not ${JSON.stringify(value)}`)
  return v
}

function httpUrl(name: string, value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new TypeError(`--${name} is not a URL: ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError(`--${name} must be an http(s) URL`)
  return url
}

/** Runs `herald bench`. Resolves to the exit code. */
export async function runBenchCommand(
  argv: string[],
  io: {
    stdout: NodeJS.WritableStream & { isTTY?: boolean }
    stderr: NodeJS.WritableStream & { isTTY?: boolean }
  },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const args = parseCommandArgs(
    'bench',
    benchUsage,
    {
      args: argv,
      strict: true,
      options: {
        url: { type: 'string' },
        'publish-url': { type: 'string' },
        subscribers: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        payload: { type: 'string' },
        warmup: { type: 'string' },
        slo: { type: 'string' },
        json: { type: 'boolean' },
        report: { type: 'string' },
        pid: { type: 'string' },
        store: { type: 'string' },
        token: { type: 'string' },
        'publish-format': { type: 'string' },
        'per-process': { type: 'string' },
        conflated: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    io,
  )
  if (args.parsed === undefined) return args.exitCode
  const v = args.parsed.values
  let options: Parameters<typeof runBench>[0]
  try {
    let slos: Slo[] = []
    if (v.slo !== undefined) slos = parseSlo(v.slo)
    if ((v.url === undefined) !== (v['publish-url'] === undefined))
      throw new TypeError('--url and --publish-url go together')
    if (v.url !== undefined && v.store !== undefined)
      throw new TypeError('--store is for the own hub, not with --url')
    const format = v['publish-format'] ?? 'json'
    if (format !== 'json' && format !== 'raw')
      throw new TypeError('--publish-format is json or raw')
    if (v.report !== undefined && !v.report.endsWith('.html'))
      throw new TypeError('--report names an .html file')
    const store = v.store ?? 'sqlite'
    if (store !== 'sqlite' && store !== 'memory' && !store.startsWith('sqlite:'))
      throw new TypeError('--store is sqlite, sqlite:PATH or memory')
    const token = v.token ?? env.HERALD_TOKEN
    const duration = positiveNumber('duration', v.duration, 10, 0.1)
    options = {
      url: v.url === undefined ? undefined : httpUrl('url', v.url),
      publishUrl:
        v['publish-url'] === undefined ? undefined : httpUrl('publish-url', v['publish-url']),
      subscribers: positiveInt('subscribers', v.subscribers, 100),
      rate: positiveNumber('rate', v.rate, 100, 0.001),
      duration,
      payload: positiveInt('payload', v.payload, 128, 0),
      warmup: positiveNumber('warmup', v.warmup, Math.min(1, duration / 4)),
      slos,
      store,
      pid: v.pid === undefined ? undefined : positiveInt('pid', v.pid, 0),
      perProcess: positiveInt('per-process', v['per-process'], 5000),
      headers: token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` },
      publishFormat: format,
      conflated: v.conflated === true,
    }
    if (options.url !== undefined && options.url.protocol !== 'http:')
      throw new TypeError('--url: synthetic subscribers speak plain http:')
  } catch (error) {
    io.stderr.write(`herald bench: ${(error as Error).message}\n\n${benchUsage}\n`)
    return 2
  }
  const live = io.stderr.isTTY === true && v.json !== true
  if (live) options.onProgress = (p) => io.stderr.write(`\r\x1b[2K${progressLine(p)}`)
  const result = await runBench(options)
  if (live) io.stderr.write('\r\x1b[2K')
  if (v.report !== undefined) writeFileSync(v.report, renderBenchReport(result))
  if (v.json === true) io.stdout.write(`${JSON.stringify(jsonResult(result))}\n`)
  else io.stdout.write(formatSummary(summaryRows(result)))
  return result.ok ? 0 : 1
}
