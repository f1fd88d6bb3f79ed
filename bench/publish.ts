/**
 * `npm run bench:publish`: the publish path against the Node floor and nchan, in one run.
 *
 * Every server runs alone on core 0 (`taskset -c 0`); the load generators run on core 1 in
 * their own processes, never in this one:
 *
 * - throughput: `wrk` (Debian), one thread, 32 keep-alive connections, bench/publish.lua
 *   POSTing the same JSON body on every request (closed loop: each connection sends its next
 *   request when the answer arrives, so the server is saturated);
 * - latency: bench/publish-loadgen.c (built here with `cc -O2`), an open-loop generator at a
 *   constant rate, half of the saturating rate wrk measured for that server in the same round,
 *   timing each request from when it was due (as wrk2 does: no coordinated omission).
 *
 * The servers:
 * - `node-floor`: a bare node:http server that reads the body and answers `{}`: what any Node
 *   publish endpoint costs at least;
 * - `herald-memory`, `herald-sqlite`: the real `herald serve` with its defaults on (validation,
 *   rate limit (raised so it never refuses), metrics, OpenTelemetry tracing with no exporter,
 *   logging at info), retention 100 000 events, measured in STEADY state: BENCH_PREFILL
 *   (150 000) events are published first, so the log is full and every append also deletes;
 * - `herald-memory-auth`: the same with `--jwt-secret`, every request carrying one token;
 *   `herald-memory-auth-nocache` with `--token-cache 0` (the signature checked every time);
 * - `nchan`: nginx + libnginx-mod-nchan, one worker, buffer of 100 000 messages;
 * - `net-floor` (not in the default list): node:net with a minimal HTTP/1.1 request loop
 *   answering `{}`, the least a publish path that skipped node:http could cost.
 *
 * A 100-byte JSON event (`{"topic":"bench/single","data":"xxx..."}`), and batches of 100 of
 * them as one JSON array (nchan has no batch publish).
 *
 * - `herald-memory-lean`, `herald-sqlite-lean`, `herald-memory-lean-auth`: the same with
 *   `--lean-publish` (publishes answered on the lean HTTP/1.1 path, not node:http: the
 *   default now, so these equal the plain kinds in this tree);
 * - `herald-memory-nolean`, `herald-sqlite-nolean`: with `--no-lean-publish` (publishes
 *   through node:http; an `@before` build without that flag runs without it);
 * - any `herald-*` kind with `@before` appended (`herald-memory@before`): the same server from
 *   the build in BENCH_BEFORE (a checkout of an earlier commit, built), for a before/after
 *   table in one run.
 *
 * Environment: BENCH_NODE_ARGS (Node flags for the Herald servers, e.g. the `herald`
 * executable's `--max-semi-space-size=2`), BENCH_SERVERS (comma-separated, default all of the above), BENCH_ROUNDS
 * (default 3; the servers interleave inside each round), BENCH_SECONDS (per measurement,
 * default 5), BENCH_PREFILL (default 150000), BENCH_RATE (the constant-rate run at this many
 * publishes/s for every server instead of half of each one's saturating rate; the server's CPU
 * per publish over that run is reported either way), BENCH_PROFILE (a directory: the Node servers
 * run with `node --cpu-prof` and leave a .cpuprofile there, one per server and round; only single-event publishes are then measured).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { mintToken } from '@herald/hub'
import { startNchan } from './nchan.js'
import { freePort, waitForPort } from './ports.js'

const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback).split(',').filter((s) => s !== '')
const SERVERS = list(
  'BENCH_SERVERS',
  'node-floor,herald-memory,herald-sqlite,herald-memory-auth,herald-memory-auth-nocache,nchan',
)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const PREFILL = Number(process.env.BENCH_PREFILL ?? 150_000)
const PROFILE = process.env.BENCH_PROFILE
// The constant-rate (latency) run at this many publishes/s for every server, instead of half
// of each server's own saturating rate: the same load for all, so its CPU per publish compares
// servers at one rate (BENCH_RATE=12000).
const FIXED_RATE = process.env.BENCH_RATE === undefined ? undefined : Number(process.env.BENCH_RATE)
// Node flags for the Herald servers (the `herald` executable's own, to measure them):
// BENCH_NODE_ARGS="--max-semi-space-size=2".
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
const RETENTION = 100_000
const CONNECTIONS = 32
const SECRET = 'bench-secret-bench-secret-bench-secret'

const root = new URL('..', import.meta.url).pathname
const tmp = mkdtempSync(join(os.tmpdir(), 'herald-bench-publish-'))
const build = join(root, '.bench-tmp')
mkdirSync(build, { recursive: true })

// This process and the load generators take core 1; each server gets core 0 to itself.
execFileSync('taskset', ['-a', '-pc', '1', String(process.pid)], { stdio: 'ignore' })
// With autogroup scheduling (Linux's default on desktops and these VMs), `nice` only ranks
// processes inside one session: the npm script starts this one in its own session (setsid),
// and this raises that session's weight against the neighbours' for the run.
let priority = 'normal priority'
try {
  writeFileSync('/proc/self/autogroup', '-15')
  priority = 'autogroup nice -15'
} catch {
  // Not Linux, no autogroup, or no privilege: run at the normal weight.
}

const loadgen = join(build, 'publish-loadgen')
execFileSync('cc', ['-O2', '-o', loadgen, join(root, 'bench/publish-loadgen.c')])

// The 100-byte event, and a batch of 100 of them.
const padding = 100 - JSON.stringify({ topic: 'bench/single', data: '' }).length
const event = { topic: 'bench/single', data: 'x'.repeat(padding) }
const single = JSON.stringify(event)
if (Buffer.byteLength(single) !== 100) throw new Error('the event must be 100 bytes')
const singleFile = join(tmp, 'single.json')
const batchFile = join(tmp, 'batch.json')
writeFileSync(singleFile, single)
writeFileSync(batchFile, JSON.stringify(Array.from({ length: 100 }, () => event)))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** utime + stime of a process, in clock ticks (1/100 s). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')
}

interface Server {
  kind: string
  url: string
  pid: number
  /** `Authorization` header value, for the servers with auth on. */
  auth: string | undefined
  /** Path that takes a publish. */
  path: string
  batches: boolean
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

const FLOOR = `require('node:http').createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{}')
  })
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'))
process.on('SIGTERM', () => process.exit(0))`

// The lean floor: node:net and a minimal HTTP/1.1 request loop (Content-Length bodies, keep-
// alive, pipelining), answering {}: what a publish path that skipped node:http's
// IncomingMessage/ServerResponse could cost at least.
const NET_FLOOR = `const answer = Buffer.from('HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: 2\\r\\n\\r\\n{}')
require('node:net').createServer((socket) => {
  socket.setNoDelay(true)
  let buffered = Buffer.alloc(0)
  socket.on('data', (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    const out = []
    for (;;) {
      const end = buffered.indexOf('\\r\\n\\r\\n')
      if (end === -1) break
      const head = buffered.toString('latin1', 0, end)
      const match = /\\r\\ncontent-length:[ \\t]*(\\d+)/i.exec(head)
      const length = match === null ? 0 : Number(match[1])
      if (buffered.length < end + 4 + length) break
      buffered = buffered.subarray(end + 4 + length)
      out.push(answer)
    }
    if (out.length === 1) socket.write(out[0])
    else if (out.length > 1) socket.write(Buffer.concat(out))
  })
  socket.on('error', () => {})
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'))
process.on('SIGTERM', () => process.exit(0))`

async function startServer(kind: string): Promise<Server> {
  if (kind === 'nchan') {
    const nchan = await startNchan({ bufferLength: RETENTION, cpu: 0 })
    return { kind, ...nchan, auth: undefined, path: '/pub/bench', batches: false }
  }
  if (kind === 'node-floor' || kind === 'net-floor') {
    const port = await freePort()
    const profile =
      PROFILE === undefined
        ? []
        : [
            '--cpu-prof',
            '--cpu-prof-dir',
            PROFILE,
            '--cpu-prof-name',
            `${kind}-${Date.now()}.cpuprofile`,
          ]
    const child = spawn(
      'taskset',
      [
        '-c',
        '0',
        process.execPath,
        ...profile,
        '-e',
        kind === 'node-floor' ? FLOOR : NET_FLOOR,
        String(port),
      ],
      {
        stdio: 'ignore',
      },
    )
    await waitForPort(port)
    return {
      kind,
      url: `http://127.0.0.1:${port}`,
      pid: child.pid as number,
      auth: undefined,
      path: '/publish',
      batches: true,
      stop: () => stopChild(child),
    }
  }
  const [flavour = kind, build_] = kind.split('@')
  const base = build_ === undefined ? root : process.env.BENCH_BEFORE
  if (base === undefined) throw new Error(`${kind}: set BENCH_BEFORE to the earlier build`)
  const store = flavour.startsWith('herald-sqlite')
    ? `sqlite:${join(tmp, `${kind}-${Date.now()}.db`)}`
    : 'memory'
  const withAuth = flavour.includes('-auth')
  const args = [
    ...(PROFILE === undefined
      ? []
      : [
          '--cpu-prof',
          '--cpu-prof-dir',
          PROFILE,
          '--cpu-prof-name',
          `${kind}-${Date.now()}.cpuprofile`,
        ]),
    ...NODE_ARGS,
    join(base, 'packages/cli/dist/bin.js'),
    'serve',
    '--port',
    '0',
    '--store',
    store,
    '--retention-events',
    String(RETENTION),
    '--log-level',
    'info',
    // On, but never the limit here: one client publishing flat out from one IP.
    '--publish-rate',
    '100000000',
  ]
  if (withAuth) args.push('--jwt-secret', SECRET)
  if (flavour.endsWith('-nocache')) args.push('--token-cache', '0')
  if (flavour.includes('-lean')) args.push('--lean-publish')
  // The node:http publish path (lean is the default since issue 17; earlier builds had no
  // --no-lean-publish and answered on node:http without it).
  if (flavour.includes('-nolean') && build_ === undefined) args.push('--no-lean-publish')
  const child = spawn('taskset', ['-c', '0', process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: tmp,
  })
  child.stderr?.resume()
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = /herald listening on (\S+)/.exec(out)
      if (match !== null) resolve(match[1] as string)
    })
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)))
  })
  child.stdout?.resume()
  const auth = withAuth
    ? `Bearer ${await mintToken({ secret: SECRET, publish: ['bench/**'], ttlSeconds: 3600 })}`
    : undefined
  return {
    kind,
    url,
    pid: child.pid as number,
    auth,
    path: '/publish',
    batches: true,
    stop: () => stopChild(child),
  }
}

/** Publishes `count` events in batches of 1000, a few in flight: fills the log. */
async function prefill(server: Server, count: number): Promise<void> {
  const body = JSON.stringify(Array.from({ length: 1000 }, () => event))
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (server.auth !== undefined) headers.authorization = server.auth
  let sent = 0
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (sent < count) {
        sent += 1000
        // One retry: a keep-alive connection the server closed while idle resets the request
        // that reused it (not a publish failure).
        let response: Response
        try {
          response = await fetch(`${server.url}${server.path}`, { method: 'POST', headers, body })
        } catch {
          response = await fetch(`${server.url}${server.path}`, { method: 'POST', headers, body })
        }
        if (response.status !== 200) throw new Error(`prefill answered ${response.status}`)
        await response.arrayBuffer()
      }
    }),
  )
}

interface Load {
  /** Requests per second. */
  rate: number
  /** Server and generator CPU, in % of one core. */
  serverCpu: number
  generatorCpu: number
}

/** Runs wrk for `seconds` against the server; fails on any non-2xx answer or socket error. */
async function wrk(server: Server, bodyFile: string, seconds: number): Promise<Load> {
  const before = cpuTicks(server.pid)
  const started = performance.now()
  // `times` prints the shell's children's CPU (wrk's) once wrk has exited.
  // A 10 s timeout: on this loaded machine a SQLite append can stall past wrk's default 2 s.
  const script = `taskset -c 1 wrk -t1 -c${CONNECTIONS} -d${seconds}s --timeout 10s -s "$0" "$1" && times`
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      'bash',
      ['-c', script, join(root, 'bench/publish.lua'), `${server.url}${server.path}`],
      {
        env: { ...process.env, BENCH_BODY: bodyFile, BENCH_AUTH: server.auth ?? '' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let out = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
    })
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`wrk failed (${code}):\n${out}`)),
    )
  })
  const elapsed = (performance.now() - started) / 1000
  const serverCpu = ((cpuTicks(server.pid) - before) / 100 / elapsed) * 100
  const line = output.split('\n').find((l) => l.startsWith('{"requests"'))
  if (line === undefined) throw new Error(`no summary from wrk:\n${output}`)
  const summary = JSON.parse(line) as {
    requests: number
    durationUs: number
    non2xx: number
    socketErrors: number
  }
  if (summary.non2xx > 0 || summary.socketErrors > 0) {
    throw new Error(
      `${server.kind}: ${summary.non2xx} error answers, ${summary.socketErrors} socket errors`,
    )
  }
  // `times`: second line is the children's "XmY.YYYs XmZ.ZZZs" (user, system).
  const times = output.trim().split('\n').at(-1) ?? ''
  const seconds_ = [...times.matchAll(/(\d+)m([\d.]+)s/g)].map(
    (m) => Number(m[1]) * 60 + Number(m[2]),
  )
  const wrkCpu = ((seconds_.reduce((a, b) => a + b, 0) || 0) / (summary.durationUs / 1e6)) * 100
  return {
    rate: summary.requests / (summary.durationUs / 1e6),
    serverCpu,
    generatorCpu: wrkCpu,
  }
}

interface Latency {
  rate: number
  p50Ms: number
  p99Ms: number
  lateMs: number
  /** Server CPU (utime+stime) per publish during the constant-rate run, in microseconds. */
  cpuUs: number
}

async function constantRate(server: Server, rate: number, seconds: number): Promise<Latency> {
  const args = [
    '-c',
    '1',
    loadgen,
    String(new URL(server.url).port),
    server.path,
    singleFile,
    String(Math.round(rate)),
    String(seconds),
    String(CONNECTIONS),
  ]
  if (server.auth !== undefined) args.push(`Authorization: ${server.auth}`)
  const before = cpuTicks(server.pid)
  const output = execFileSync('taskset', args, { encoding: 'utf8' })
  const ticks = cpuTicks(server.pid) - before
  const result = JSON.parse(output) as Latency & {
    non2xx: number
    errors: number
    due: number
    completed: number
  }
  if (result.non2xx > 0 || result.errors > 0 || result.completed !== result.due) {
    throw new Error(`${server.kind}: constant-rate run failed: ${output}`)
  }
  return { ...result, cpuUs: ((ticks / 100) * 1e6) / Math.max(1, result.completed) }
}

interface Row {
  single: Load
  batch: Load | undefined
  latency: Latency
}

async function measure(kind: string): Promise<Row> {
  const server = await startServer(kind)
  try {
    if (kind.startsWith('herald')) await prefill(server, PREFILL)
    // Warm-up (JIT, connections, nchan's buffer), then the measurements.
    await wrk(server, singleFile, 2)
    const single = await wrk(server, singleFile, SECONDS)
    // A profile is of single-event publishes (and the prefill): no batches, no latency run.
    const batch =
      server.batches && PROFILE === undefined ? await wrk(server, batchFile, SECONDS) : undefined
    await sleep(200)
    const latency =
      PROFILE === undefined
        ? await constantRate(server, FIXED_RATE ?? single.rate / 2, SECONDS)
        : { rate: 0, p50Ms: 0, p99Ms: 0, lateMs: 0, cpuUs: 0 }
    return { single, batch, latency }
  } finally {
    await server.stop()
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const range = (values: number[], f: (n: number) => string = fmt) => {
  const sorted = [...values].sort((a, b) => a - b)
  const lo = sorted[0] as number
  const hi = sorted.at(-1) as number
  return sorted.length === 1 || f(lo) === f(hi) ? f(lo) : `${f(lo)}-${f(hi)}`
}

async function main(): Promise<void> {
  console.log(
    `Herald publish benchmark: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, Node ${process.version}; ${ROUNDS} rounds, ${SECONDS} s per measurement, wrk -t1 -c${CONNECTIONS}; ${priority}; load average before: ${loadAverage()}`,
  )
  // By round; `undefined` where a measurement failed (the run goes on, the failure is printed).
  const rows: Record<string, (Row | undefined)[]> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of SERVERS) {
      const list_ = rows[kind] ?? []
      rows[kind] = list_
      let row: Row
      try {
        row = await measure(kind)
      } catch (error) {
        list_.push(undefined)
        process.stderr.write(
          `round ${round + 1} ${kind}: FAILED (${(error as Error).message}); load ${loadAverage()}\n`,
        )
        continue
      }
      list_.push(row)
      process.stderr.write(
        `round ${round + 1} ${kind}: ${fmt(row.single.rate)}/s (server ${fmt(row.single.serverCpu)}% CPU, wrk ${fmt(row.single.generatorCpu)}%), batch ${row.batch === undefined ? 'n/a' : fmt(row.batch.rate * 100)} events/s, at ${fmt(row.latency.rate)}/s p50 ${row.latency.p50Ms.toFixed(2)} ms p99 ${row.latency.p99Ms.toFixed(2)} ms (sent up to ${row.latency.lateMs.toFixed(1)} ms late), server CPU ${row.latency.cpuUs.toFixed(1)} us/publish; load ${loadAverage()}\n`,
      )
    }
  }
  const floor = rows['node-floor']
  const ratio = (kind: string, pick: (r: Row) => number | undefined): string => {
    if (floor === undefined) return ''
    const mine = rows[kind] ?? []
    const values = mine
      .map((r, i) => {
        const v = r === undefined ? undefined : pick(r)
        const f = floor[i] === undefined ? undefined : pick(floor[i] as Row)
        return v === undefined || f === undefined ? undefined : v / f
      })
      .filter((v): v is number => v !== undefined)
    return values.length === 0 ? 'n/a' : `${range(values, (n) => n.toFixed(2))}x`
  }
  console.log(`\nload average after: ${loadAverage()}\n`)
  // Per CPU-second of the server: what a publish costs, much less disturbed by the
  // neighbours than the rate when the server does not get its core to itself.
  const perCpu = (l: Load) => l.rate / Math.max(l.serverCpu / 100, 0.01)
  console.log(
    `| server | 1 event per POST: publishes/s | / Node floor | per server CPU-second | / Node floor | server CPU | wrk CPU | 100 events per POST: events/s | / Node floor | p50 ms at ${FIXED_RATE === undefined ? 'half rate' : `${fmt(FIXED_RATE)}/s`} | p99 ms | CPU us/publish there | Node floor / that |`,
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const kind of SERVERS) {
    const mine = (rows[kind] ?? []).filter((r): r is Row => r !== undefined)
    if (mine.length === 0) continue
    const batches = mine.map((r) => r.batch).filter((b): b is Load => b !== undefined)
    const cells = [
      kind,
      range(mine.map((r) => r.single.rate)),
      ratio(kind, (r) => r.single.rate),
      range(mine.map((r) => perCpu(r.single))),
      ratio(kind, (r) => perCpu(r.single)),
      `${range(mine.map((r) => r.single.serverCpu))}%`,
      `${range(mine.map((r) => r.single.generatorCpu))}%`,
      batches.length === 0 ? 'n/a' : range(batches.map((b) => b.rate * 100)),
      batches.length === 0 ? 'n/a' : ratio(kind, (r) => r.batch?.rate),
      range(
        mine.map((r) => r.latency.p50Ms),
        (n) => n.toFixed(2),
      ),
      range(
        mine.map((r) => r.latency.p99Ms),
        (n) => n.toFixed(2),
      ),
      range(
        mine.map((r) => r.latency.cpuUs),
        (n) => n.toFixed(1),
      ),
      // The floor's CPU per publish over this server's, within a round (same rate with BENCH_RATE).
      ratio(kind, (r) => (r.latency.cpuUs > 0 ? 1 / r.latency.cpuUs : undefined)),
    ]
    console.log(`| ${cells.join(' | ')} |`)
  }
  console.log(
    `\nwrk and the constant-rate generator run on core 1, each server alone on core 0. Latency: open loop at ${FIXED_RATE === undefined ? 'half the rate wrk measured for that server in the same round' : `${fmt(FIXED_RATE)} publishes/s for every server (BENCH_RATE)`}, timed from when each request was due; the server's CPU per publish over that run beside it.`,
  )
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(() => rmSync(tmp, { recursive: true, force: true }))
