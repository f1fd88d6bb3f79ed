/**
 * `npm run bench:overload`: the overload question of issue 14 with a subscriber side that is
 * not the bottleneck. `herald serve` (memory store) on core 0, N subscribers held by the C
 * load generator (bench/fanout-loadgen.c) on core 1, and an open-loop publisher offering RATE
 * events/s over keep-alive HTTP (at most 128 requests in flight, like `herald bench`), for
 * each configuration in turn:
 *
 *   herald            no flag
 *   herald-bounded    --max-delivery-lag BENCH_MAX_LAG (default 1 s)
 *   herald-conflated  --max-delivery-lag BENCH_MAX_LAG --conflate bench
 *
 * Reports, per run: publish-to-delivery latency of the events delivered (p50/p99/max, measured
 * on every N/200-th connection from the payload's timestamp: the same monotonic clock), the
 * publishes answered 200 / 503, deliveries, events conflated (the hub's metric), the publish
 * round trip p99, the slowest `GET /healthz` on a new connection (one a second: how long a
 * new connection waits to be accepted), the server's CPU, and the load average.
 *
 * Environment: BENCH_SUBSCRIBERS=5000 BENCH_RATE=100 BENCH_SECONDS=10 BENCH_MAX_LAG=1
 * BENCH_ROUNDS=2 BENCH_CONFIGS=herald,herald-bounded,herald-conflated
 * HERALD_TREE=path (another checkout's build, for a before/after run). BENCH_NODE_ARGS: flags
 * for the server's Node (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { join } from 'node:path'
import readline from 'node:readline'
import { freePort, waitForPort } from './ports.js'

const root = new URL('..', import.meta.url).pathname
const tree = process.env.HERALD_TREE ?? root
const subscribers = Number(process.env.BENCH_SUBSCRIBERS ?? 5000)
const rate = Number(process.env.BENCH_RATE ?? 100)
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const maxLag = process.env.BENCH_MAX_LAG ?? '1'
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '')
const configs = (process.env.BENCH_CONFIGS ?? 'herald,herald-bounded,herald-conflated').split(',')
const flags: Record<string, string[]> = {
  herald: [],
  'herald-bounded': ['--max-delivery-lag', maxLag],
  'herald-conflated': ['--max-delivery-lag', maxLag, '--conflate', 'bench'],
}

const now = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const quantile = (sorted: ArrayLike<number>, q: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number)
const cpuSeconds = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

const tmp = join(root, '.bench-tmp')
mkdirSync(tmp, { recursive: true })
const loadgen = join(tmp, 'fanout-loadgen')
execFileSync('cc', ['-O2', '-o', loadgen, join(root, 'bench/fanout-loadgen.c')])

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 5000).unref()
  })
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (c: string) => {
          body += c
        })
        res.on('end', () => resolve(body))
      })
      .on('error', () => resolve(''))
  })
}

async function run(config: string): Promise<Record<string, unknown>> {
  const port = await freePort()
  const server = spawn(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      ...nodeArgs,
      join(tree, 'packages/cli/dist/bin.js'),
      'serve',
      '--port',
      String(port),
      '--store',
      'memory',
      '--publish-rate',
      '0',
      '--log-level',
      'error',
      ...(flags[config] ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  await waitForPort(port)
  const probeEvery = Math.max(1, Math.floor(subscribers / 200))
  const gen = spawn(
    'taskset',
    [
      '-c',
      '1',
      loadgen,
      String(port),
      '/events?topic=bench',
      String(subscribers),
      '2',
      String(probeEvery),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const answers: ((line: string) => void)[] = []
  readline
    .createInterface({ input: gen.stdout as NodeJS.ReadableStream })
    .on('line', (line) => answers.shift()?.(line))
  const ask = (command: string | undefined) =>
    new Promise<string>((resolve) => {
      answers.push(resolve)
      if (command !== undefined) gen.stdin?.write(`${command}\n`)
    })
  try {
    await ask(undefined) // "open CONNECTED FAILED"
    await sleep(500)
    await ask('reset')
    const agent = new http.Agent({ keepAlive: true, maxSockets: 128 })
    let sent = 0
    let ok = 0
    let refused = 0
    let failed = 0
    let inFlight = 0
    const roundTrips: number[] = []
    const health: number[] = []
    const started = now()
    const cpu0 = cpuSeconds(server.pid as number)
    const padding = 'x'.repeat(100)
    const publisher = setInterval(() => {
      const due = Math.floor(((now() - started) / 1000) * rate)
      while (sent < due && inFlight < 128 && now() - started < seconds * 1000) {
        sent++
        inFlight++
        const at = now()
        const body = JSON.stringify({
          topic: 'bench',
          data: `{"t":${at.toFixed(3)},"p":"${padding}"}`,
        })
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            path: '/publish',
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
            },
          },
          (res) => {
            res.resume()
            res.on('end', () => {
              inFlight--
              if (res.statusCode === 200) {
                ok++
                roundTrips.push(now() - at)
              } else refused++
            })
          },
        )
        req.on('error', () => {
          inFlight--
          failed++
        })
        req.end(body)
      }
    }, 2)
    const prober = setInterval(() => {
      const at = now()
      get(port, '/healthz').then(() => health.push(now() - at))
    }, 1000)
    await sleep(seconds * 1000)
    clearInterval(publisher)
    const cpu = cpuSeconds(server.pid as number) - cpu0
    const load = os.loadavg()[0] as number
    const deadline = Date.now() + 60_000
    while (inFlight > 0 && Date.now() < deadline) await sleep(100)
    await sleep(3000)
    clearInterval(prober)
    agent.destroy()
    const metrics = await get(port, '/metrics')
    const metric = (name: string) => {
      const line = metrics.split('\n').find((l) => l.startsWith(`${name} `))
      return line === undefined ? 0 : Number(line.split(' ').at(-1))
    }
    const stats = (await ask('stats')).split(' ')
    const file = join(tmp, `overload-lat-${process.pid}.bin`)
    await ask(`lat ${file}`)
    const bytes = readFileSync(file)
    const latency = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8)
      .slice()
      .sort()
    roundTrips.sort((a, b) => a - b)
    health.sort((a, b) => a - b)
    return {
      config,
      p50Ms: Math.round(quantile(latency, 0.5)),
      p99Ms: Math.round(quantile(latency, 0.99)),
      maxMs: Math.round(latency.at(-1) ?? Number.NaN),
      sent,
      accepted: ok,
      refused,
      failed,
      delivered: Number(stats[1]),
      conflated: metric('herald_events_conflated_total'),
      publishP99Ms: Math.round(quantile(roundTrips, 0.99)),
      healthzMaxMs: Math.round(health.at(-1) ?? Number.NaN),
      serverCpuPct: Math.round((cpu / seconds) * 100),
      load: Number(load.toFixed(1)),
    }
  } finally {
    gen.stdin?.write('exit\n')
    gen.kill('SIGKILL')
    await stop(server)
  }
}

console.error(
  `load average at start: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (2 cores)`,
)
const rows: Record<string, unknown>[] = []
for (let round = 1; round <= rounds; round++) {
  for (const config of configs) {
    const row = { round, ...(await run(config)) }
    rows.push(row)
    console.error(JSON.stringify(row))
  }
}
const columns = [
  'round',
  'config',
  'p50Ms',
  'p99Ms',
  'maxMs',
  'accepted',
  'refused',
  'delivered',
  'conflated',
  'publishP99Ms',
  'healthzMaxMs',
  'serverCpuPct',
  'load',
]
console.log(`| ${columns.join(' | ')} |`)
console.log(`|${columns.map(() => '---').join('|')}|`)
for (const row of rows) console.log(`| ${columns.map((c) => String(row[c])).join(' | ')} |`)
console.error(
  `load average at end: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
