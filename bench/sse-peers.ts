/**
 * `npm run bench:peers`: `herald bench` (the CLI, as a user runs it) against Herald's hub,
 * better-sse, nchan and a do-nothing node:http floor, side by side in ONE run, at 1k, 5k and
 * 15k subscribers. Each server runs alone, pinned to core 0 (`taskset`); `herald bench` and its
 * subscriber processes are pinned to core 1. Same payload, same rate, same publish path
 * (HTTP POST per event), a fresh server per measurement (nchan replays its buffer to new
 * subscribers, a reused one would hand old sequence numbers to the next size).
 *
 * The machine is shared: every row also says how busy both cores were during it
 * (/proc/stat), beyond our own server and generator.
 *
 * Environment:
 *   BENCH_SIZES=1000:100,5000:20,15000:6   subscribers:events-per-second
 *   BENCH_SERVERS=herald,better-sse,nchan,node-floor   (also herald-bounded: herald with
 *                                           --max-delivery-lag BENCH_MAX_LAG, default 1 s;
 *                                           herald-conflated: that plus --conflate bench,
 *                                           measured with `herald bench --conflated`)
 *   BENCH_ROUNDS=1                          rounds, servers alternating within each
 *   BENCH_SECONDS=10                        seconds of publishing (1 s warm-up excluded)
 *   BENCH_PAYLOAD=128
 *   BENCH_OUT=FILE.json                     also write the raw results
 *   BENCH_TABLE_FROM=FILE.json              print the table of an earlier BENCH_OUT, no run
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { startNchan } from './nchan.js'
import { freePort, waitForPort } from './ports.js'

type Kind = 'herald' | 'herald-bounded' | 'herald-conflated' | 'better-sse' | 'nchan' | 'node-floor'

const root = new URL('..', import.meta.url).pathname
const HERALD_BIN = join(root, 'packages/cli/dist/bin.js')
const sizes = (process.env.BENCH_SIZES ?? '1000:100,5000:20,15000:6').split(',').map((pair) => {
  const [n, rate] = pair.split(':').map(Number)
  return { subscribers: n as number, rate: rate as number }
})
const kinds = (process.env.BENCH_SERVERS ?? 'herald,better-sse,nchan,node-floor').split(
  ',',
) as Kind[]
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const payload = Number(process.env.BENCH_PAYLOAD ?? 128)
const maxLag = process.env.BENCH_MAX_LAG ?? '1'
const rounds = Number(process.env.BENCH_ROUNDS ?? 1)

interface Server {
  kind: Kind
  sub: string
  pub: string
  pid: number
  format: 'json' | 'raw'
  stop(): Promise<void>
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 5000).unref()
  })
}

async function startServer(kind: Kind, subscribers: number): Promise<Server> {
  if (kind === 'nchan') {
    const nchan = await startNchan({ bufferLength: 16, cpu: 0, connections: subscribers + 2000 })
    return {
      sub: `${nchan.url}/sub/bench`,
      pub: `${nchan.url}/pub/bench`,
      kind,
      pid: nchan.pid,
      format: 'raw',
      stop: nchan.stop,
    }
  }
  const port = await freePort()
  if (kind === 'herald' || kind === 'herald-bounded' || kind === 'herald-conflated') {
    const dir = mkdtempSync(join(os.tmpdir(), 'herald-peers-'))
    const child = spawn(
      'taskset',
      [
        '-c',
        '0',
        process.execPath,
        HERALD_BIN,
        'serve',
        '--port',
        String(port),
        '--store',
        `sqlite:${join(dir, 'herald.db')}`,
        '--publish-rate',
        '0',
        '--log-level',
        'warn',
        ...(kind === 'herald-bounded' || kind === 'herald-conflated'
          ? ['--max-delivery-lag', maxLag]
          : []),
        ...(kind === 'herald-conflated' ? ['--conflate', 'bench'] : []),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    )
    await waitForPort(port)
    return {
      sub: `http://127.0.0.1:${port}/events?topic=bench`,
      pub: `http://127.0.0.1:${port}/publish`,
      kind,
      pid: child.pid as number,
      format: 'json',
      stop: async () => {
        await stopChild(child)
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  const child = spawn(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      '--import',
      'tsx',
      join(root, 'bench/fanout-server.ts'),
      kind,
      String(port),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], cwd: root },
  )
  await waitForPort(port)
  return {
    sub: `http://127.0.0.1:${port}/sub`,
    pub: `http://127.0.0.1:${port}/pub`,
    kind,
    pid: child.pid as number,
    format: 'raw',
    stop: () => stopChild(child),
  }
}

/** Busy and total jiffies of all cores (from /proc/stat). */
function cpuJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = (f[3] ?? 0) + (f[4] ?? 0)
  const total = f.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

function runBench(
  server: Server,
  subscribers: number,
  rate: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'taskset',
      [
        '-c',
        '1',
        process.execPath,
        HERALD_BIN,
        'bench',
        '--url',
        server.sub,
        '--publish-url',
        server.pub,
        '--publish-format',
        server.format,
        '--subscribers',
        String(subscribers),
        '--rate',
        String(rate),
        '--duration',
        String(seconds),
        '--payload',
        String(payload),
        '--pid',
        String(server.pid),
        '--json',
        ...(server.kind === 'herald-conflated' ? ['--conflated'] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c
    })
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as Record<string, unknown>)
      } catch {
        reject(new Error(`herald bench printed no result: ${out}`))
      }
    })
  })
}

let results: Array<Record<string, unknown>> = []
if (process.env.BENCH_TABLE_FROM) {
  // Re-render the table of an earlier run (BENCH_OUT) without measuring again.
  results = JSON.parse(readFileSync(process.env.BENCH_TABLE_FROM, 'utf8')) as typeof results
} else {
  const load0 = os.loadavg()
  console.error(`load average at start: ${load0.map((l) => l.toFixed(2)).join(' ')} (2 cores)`)
  for (let round = 1; round <= rounds; round++) {
    for (const { subscribers, rate } of sizes) {
      for (const kind of kinds) {
        const server = await startServer(kind, subscribers)
        const before = cpuJiffies()
        const started = Date.now()
        let r: Record<string, unknown>
        try {
          r = await runBench(server, subscribers, rate)
        } finally {
          await server.stop()
        }
        const after = cpuJiffies()
        const wall = (Date.now() - started) / 1000
        // Busy share of both cores over the whole measurement (connect + publish + drain).
        const machineBusyPct = Math.round(
          ((after.busy - before.busy) / (after.total - before.total)) * 200,
        )
        const row = {
          round,
          kind,
          subscribers,
          rate,
          machineBusyPct,
          wallS: wall,
          loadavg1: os.loadavg()[0],
          ...r,
        }
        results.push(row)
        console.error(
          `${kind.padEnd(10)} ${String(subscribers).padStart(6)} subs  ${String(r.deliveriesPerSec).padStart(8)} deliveries/s  p50 ${r.p50Ms} p99 ${r.p99Ms} max ${r.maxMs} ms  lost ${r.lost}  refused ${r.publishFailed}  conflated ${r.conflated ?? 0}  cpu ${r.serverCpuPct}%  rss ${r.serverRssMb} MB  machine ${machineBusyPct}% of 200%`,
        )
      }
    }
  }
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(results, null, 2))
}
const floorOf = (n: number) => results.find((x) => x.kind === 'node-floor' && x.subscribers === n)
const lines = [
  '| subscribers | events/s | server | deliveries/s | p50 ms | p99 ms | max ms | published | refused | conflated | lost | dup | server CPU % | server RSS MB | connect p99 ms | p99 vs floor | generator CPU % | machine busy |',
  '|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
]
for (const r of results) {
  const floor = floorOf(r.subscribers as number)
  const ratio =
    floor && (floor.p99Ms as number) > 0
      ? `${((r.p99Ms as number) / (floor.p99Ms as number)).toFixed(2)}x`
      : '-'
  lines.push(
    `| ${(r.subscribers as number).toLocaleString('en-US')} | ${r.rate} | ${r.kind} | ${(r.deliveriesPerSec as number).toLocaleString('en-US')} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.published} | ${r.publishFailed ?? 0} | ${r.conflated ?? 0} | ${r.lost} | ${r.duplicated} | ${r.serverCpuPct} | ${r.serverRssMb} | ${r.connectP99Ms} | ${ratio} | ${r.subscriberCpuPct} | ${r.machineBusyPct}% (load ${(r.loadavg1 as number).toFixed(1)}) |`,
  )
}
console.log(lines.join('\n'))
const load1 = os.loadavg()
console.error(`load average at end: ${load1.map((l) => l.toFixed(2)).join(' ')}`)
