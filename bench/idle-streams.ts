/**
 * `npm run bench:idle-streams`: idle streams per node. One server at a time alone on core 0
 * (`taskset`), the C load generator (bench/fanout-loadgen.c, 5000 streams per process, each
 * process from its own loopback source addresses 127.0.0.2+) and this script on core 1.
 * Servers, alternating in every round:
 *   herald        `herald serve` with its defaults (lean streams, SQLite store, heartbeats),
 *                 started as the `herald` executable (packages/cli/bin/herald.js), which runs
 *                 Node with `--max-semi-space-size=2` and MALLOC_ARENA_MAX=2
 *   herald-auth   the same with authorization on (`--jwt-secret`, `--query-token`): every
 *                 stream presents an HS256 token granting its topic (in the query string, as
 *                 the load generator sends no headers of its own), verified and kept for its
 *                 expiry
 *   herald-http   the same with `--no-lean-streams` (every stream on node:http)
 *   nchan         nginx + libnginx-mod-nchan, one process
 * Per row: total RSS with N open streams (VmRSS), RSS growth per stream over the empty
 * (warmed-up) server, connect rate (streams accepted per second while N clients connect at
 * once), and the server's CPU while the N streams sit idle with a heartbeat every
 * BENCH_HEARTBEAT seconds (both servers send a comment line: Herald's `--heartbeat`,
 * nchan's `nchan_eventsource_ping_interval`), as % of a core and microseconds per heartbeat.
 *   herald@before the `herald` kind from the tree in BENCH_BEFORE (a checkout of an earlier
 *                 commit, built), for a before/after in one run
 * RSS is also split into anonymous memory and file pages (RssAnon, RssFile: Node's binary and
 * libraries, shared with other processes running them).
 * Environment: BENCH_SIZES (15000,18000), BENCH_ROUNDS (2), BENCH_HEARTBEAT (5 s),
 * BENCH_IDLE (20 s measured idle), BENCH_SETTLE (2 s before it), BENCH_SERVERS
 * (herald,herald-http,nchan), BENCH_BEFORE.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import readline from 'node:readline'
import { mintToken } from '@herald/hub'
import { freePort, waitForPort } from './ports.js'

type Kind = 'herald' | 'herald@before' | 'herald-auth' | 'herald-http' | 'nchan'
const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
const sizes = list('BENCH_SIZES', '15000,18000').map(Number)
const kinds = list('BENCH_SERVERS', 'herald,herald-http,nchan') as Kind[]
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const heartbeat = Number(process.env.BENCH_HEARTBEAT ?? 5)
const idleSeconds = Number(process.env.BENCH_IDLE ?? 20)
// Seconds between the last stream connected and the idle CPU window (herald's memory reducer
// runs its GCs a few seconds after a burst: BENCH_SETTLE=12 keeps them out of the heartbeat
// figure).
const settleSeconds = Number(process.env.BENCH_SETTLE ?? 2)
const PER_GENERATOR = 5000
const CLK_TCK = 100
const root = new URL('..', import.meta.url).pathname
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

execFileSync('taskset', ['-a', '-pc', '1', String(process.pid)], { stdio: 'ignore' })

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

function statusBytes(pid: number, field: string): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  )
  return Number(match?.[1] ?? 0) * 1024
}

const rssBytes = (pid: number): number => statusBytes(pid, 'VmRSS')

const loadAverage = () => os.loadavg()[0]?.toFixed(1) ?? '?'

function nchanConfig(dir: string, port: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
events { worker_connections 19500; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /sub {
      nchan_subscriber eventsource;
      nchan_channel_id bench;
      nchan_eventsource_ping_interval ${heartbeat};
    }
    location = /pub {
      nchan_publisher;
      nchan_channel_id bench;
    }
  }
}
`
}

const JWT_SECRET = 'idle-streams-bench-secret-0123456789abcdef'
/** A subscriber token for topic `bench` (a day long), for the `herald-auth` streams. */
const subscriberToken = await mintToken({
  secret: JWT_SECRET,
  subscribe: ['bench'],
  ttlSeconds: 86_400,
})

interface Running {
  pid: number
  port: number
  path: string
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

async function start(kind: Kind): Promise<Running> {
  const port = await freePort()
  const dir = mkdtempSync(join(os.tmpdir(), `herald-idle-${kind}-`))
  let child: ChildProcess
  if (kind === 'nchan') {
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub))
    writeFileSync(join(dir, 'nginx.conf'), nchanConfig(dir, port))
    child = spawn(
      'taskset',
      ['-c', '0', 'nginx', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
      { stdio: 'ignore' },
    )
  } else {
    const tree = kind === 'herald@before' ? process.env.BENCH_BEFORE : root
    if (tree === undefined) throw new Error(`${kind}: set BENCH_BEFORE to the earlier build`)
    const args = [
      '-c',
      '0',
      // The `herald` executable as npm links it (its shebang sets the heap flags), as users run it.
      join(tree, 'packages/cli/bin/herald.js'),
      'serve',
      '--port',
      String(port),
      '--store',
      `sqlite:${join(dir, 'herald.db')}`,
      '--heartbeat',
      String(heartbeat),
      '--log-level',
      'warn',
    ]
    if (kind === 'herald-http') args.push('--no-lean-streams')
    if (kind === 'herald-auth') args.push('--jwt-secret', JWT_SECRET, '--query-token')
    child = spawn('taskset', args, { stdio: ['ignore', 'ignore', 'inherit'], cwd: dir })
  }
  await waitForPort(port)
  return {
    pid: child.pid as number,
    port,
    path:
      kind === 'nchan'
        ? '/sub'
        : kind === 'herald-auth'
          ? `/events?topic=bench&authorization=${subscriberToken}`
          : '/events?topic=bench',
    async stop() {
      await stopChild(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const tmp = join(root, '.bench-tmp')
mkdirSync(tmp, { recursive: true })
const loadgen = join(tmp, 'fanout-loadgen')
execFileSync('cc', ['-O2', '-o', loadgen, join(root, 'bench/fanout-loadgen.c')])

interface Generator {
  child: ChildProcess
  opened: Promise<{ connected: number; failed: number }>
}

function generator(server: Running, count: number, index: number): Generator {
  const args = [
    String(server.port),
    server.path,
    String(count),
    String(2 + index * 8),
    '1000000000',
  ]
  const child = spawn('taskset', ['-c', '1', loadgen, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const opened = new Promise<{ connected: number; failed: number }>((resolve) => {
    readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      const words = l.split(' ')
      if (words[0] === 'open') resolve({ connected: Number(words[1]), failed: Number(words[2]) })
    })
  })
  return { child, opened }
}

interface Row {
  kind: Kind
  n: number
  round: number
  connected: number
  rssMiB: number
  anonMiB: number
  fileMiB: number
  perStreamBytes: number
  connectPerSec: number
  idleCpuPercent: number
  usPerHeartbeat: number
  load: string
}
const rows: Row[] = []

async function measure(kind: Kind, n: number, round: number): Promise<void> {
  const server = await start(kind)
  const generators: Generator[] = []
  try {
    // Warm-up: a few hundred streams opened and closed (JIT, pools, first arenas).
    const warm = generator(server, 300, 7)
    await warm.opened
    warm.child.stdin?.end('exit\n')
    await stopChild(warm.child)
    await sleep(2000)
    const rssEmpty = rssBytes(server.pid)
    const started = performance.now()
    for (let left = n, i = 0; left > 0; left -= PER_GENERATOR, i++) {
      generators.push(generator(server, Math.min(PER_GENERATOR, left), i))
    }
    const opened = await Promise.all(generators.map((g) => g.opened))
    const seconds = (performance.now() - started) / 1000
    const connected = opened.reduce((sum, o) => sum + o.connected, 0)
    await sleep(settleSeconds * 1000)
    const cpu0 = cpuTicks(server.pid)
    await sleep(idleSeconds * 1000)
    const cpu1 = cpuTicks(server.pid)
    const rss = rssBytes(server.pid)
    const anon = statusBytes(server.pid, 'RssAnon')
    const file = statusBytes(server.pid, 'RssFile')
    const cpuSeconds = (cpu1 - cpu0) / CLK_TCK
    const heartbeats = connected * (idleSeconds / heartbeat)
    const row: Row = {
      kind,
      n,
      round,
      connected,
      rssMiB: rss / 2 ** 20,
      anonMiB: anon / 2 ** 20,
      fileMiB: file / 2 ** 20,
      perStreamBytes: (rss - rssEmpty) / Math.max(1, connected),
      connectPerSec: connected / seconds,
      idleCpuPercent: (cpuSeconds / idleSeconds) * 100,
      usPerHeartbeat: (cpuSeconds * 1e6) / Math.max(1, heartbeats),
      load: loadAverage(),
    }
    rows.push(row)
    process.stderr.write(`${JSON.stringify(row)}\n`)
  } finally {
    await Promise.all(
      generators.map(async (g) => {
        g.child.stdin?.end('exit\n')
        await stopChild(g.child)
      }),
    )
    await server.stop()
  }
}

for (let round = 1; round <= rounds; round++) {
  for (const n of sizes) for (const kind of kinds) await measure(kind, n, round)
}

const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a')
const out: string[] = []
out.push(
  `machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, Node ${process.version}, heartbeat ${heartbeat} s, ${idleSeconds} s idle measured`,
)
out.push('')
out.push(
  '| N | server | round | connected | RSS MiB | anon / file MiB | RSS / nchan | RSS growth per stream (KiB) | connect streams/s | idle CPU % (heartbeats) | us per heartbeat | load avg |',
)
out.push('|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  const peer = rows.find((x) => x.kind === 'nchan' && x.n === r.n && x.round === r.round)
  out.push(
    `| ${r.n} | ${r.kind} | ${r.round} | ${r.connected} | ${fmt(r.rssMiB)} | ${fmt(r.anonMiB)} / ${fmt(r.fileMiB)} | ${peer === undefined ? 'n/a' : fmt(r.rssMiB / peer.rssMiB, 2)} | ${fmt(r.perStreamBytes / 1024, 2)} | ${Math.round(r.connectPerSec)} | ${fmt(r.idleCpuPercent)} | ${fmt(r.usPerHeartbeat, 2)} | ${r.load} |`,
  )
}
process.stdout.write(`${out.join('\n')}\n`)
