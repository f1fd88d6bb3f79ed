/**
 * `npm run bench:fanout`: one server on core 0 broadcasting to N subscribers held by load
 * generators on core 1 (`taskset`), in one run for Herald (@herald/server on node:http),
 * better-sse (npm) and nchan (nginx + libnginx-mod-nchan, one process). Same payload, same
 * publish path (HTTP POST /pub), same event rates.
 *
 * Reports deliveries/s, server CPU microseconds per delivery (utime+stime from /proc), latency
 * p50/p99 (publish timestamp in the payload, measured on ~200 probe connections), and server
 * RSS per idle connection (over the second half of the connections). Environment:
 *   BENCH_SIZES=1000,5000,15000     subscriber counts
 *   BENCH_LOADS=20000,100000,max    target deliveries/s (open loop); `max` = closed loop with
 *                                   BENCH_CONCURRENCY (16) publishes in flight: saturation
 *   BENCH_SERVERS=herald,herald-lean,better-sse,nchan
 *                                   also hub-memory, hub-redis, hub-nats: the real `herald serve`
 *                                   with that store (`npm run bench:scale`): GET /events, POST
 *                                   /publish; Redis/NATS are the shared servers (REDIS_URL,
 *                                   NATS_URL), their CPU reported beside the hub's
 *   BENCH_SECONDS=3                 measured seconds per load
 *   BENCH_PAYLOAD=128               payload bytes
 *   HERALD_TREE=path                another checkout's build for the Herald servers (herald,
 *                                   herald-lean, hub-*), for a before/after run
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import readline from 'node:readline'
import { freePort, waitForPort } from './ports.js'

type Kind =
  | 'herald'
  | 'herald-lean'
  | 'better-sse'
  | 'nchan'
  | 'hub-memory'
  | 'hub-redis'
  | 'hub-nats'
const isHub = (kind: Kind) => kind.startsWith('hub-')
// Node flags for the hub kinds (A/B of V8 heap flags): BENCH_NODE_ARGS="--max-semi-space-size=2".
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
const run = `b${process.pid}`
const storeOf: Record<string, string> = {
  'hub-memory': 'memory',
  'hub-redis': `${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'}?namespace=bench-${run}`,
  'hub-nats': `${process.env.NATS_URL ?? 'nats://127.0.0.1:4222'}?namespace=bench-${run}`,
}

const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
const sizes = list('BENCH_SIZES', '1000,5000,15000').map(Number)
const loads = list('BENCH_LOADS', '20000,100000,max')
const kinds = list('BENCH_SERVERS', 'herald,herald-lean,better-sse,nchan') as Kind[]
const seconds = Number(process.env.BENCH_SECONDS ?? 3)
const payloadBytes = Number(process.env.BENCH_PAYLOAD ?? 128)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16)
const PER_GENERATOR = 5000
const CLK_TCK = 100
const root = new URL('..', import.meta.url).pathname
const tree = process.env.HERALD_TREE ?? root
// CLOCK_MONOTONIC in ms: the load generators read the same clock.
const now = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// The publisher and the generators share core 1; the server gets core 0 to itself.
execFileSync('taskset', ['-a', '-pc', '1', String(process.pid)], { stdio: 'ignore' })

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /VmRSS:\s+(\d+) kB/.exec(status)
  return Number(match?.[1] ?? 0) * 1024
}

interface RunningServer {
  pid: number
  port: number
  stop(): Promise<void>
}

function nchanConfig(dir: string, port: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  nchan_shared_memory_size 256M;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /sub {
      nchan_subscriber eventsource;
      nchan_channel_id bench;
      nchan_eventsource_ping_interval 15;
    }
    location = /pub {
      nchan_publisher;
      nchan_channel_id bench;
      nchan_message_buffer_length 16;
      nchan_message_timeout 30s;
    }
  }
}
`
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 3000).unref()
  })
}

async function startServer(kind: Kind): Promise<RunningServer> {
  const port = await freePort()
  let child: ChildProcess
  let dir: string | undefined
  if (kind === 'nchan') {
    dir = mkdtempSync(join(os.tmpdir(), 'herald-nchan-'))
    for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub))
    writeFileSync(join(dir, 'nginx.conf'), nchanConfig(dir, port))
    child = spawn(
      'taskset',
      ['-c', '0', 'nginx', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
      { stdio: 'ignore' },
    )
  } else if (isHub(kind)) {
    child = spawn(
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
        '--host',
        '127.0.0.1',
        '--store',
        storeOf[kind] as string,
        '--publish-rate',
        '0',
        '--log-level',
        'warn',
        '--max-connections',
        '100000',
        '--max-connections-per-ip',
        '100000',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], cwd: tree },
    )
  } else {
    child = spawn(
      'taskset',
      [
        '-c',
        '0',
        process.execPath,
        '--import',
        'tsx',
        join(tree, 'bench/fanout-server.ts'),
        kind,
        String(port),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], cwd: tree },
    )
  }
  await waitForPort(port)
  const pid = child.pid as number
  return {
    pid,
    port,
    async stop() {
      await stopChild(child)
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    },
  }
}

interface Generator {
  child: ChildProcess
  pid: number
  /** Sends a command line; resolves with the answer line starting with `reply`. */
  ask(command: string, reply: string): Promise<string[]>
  opened: Promise<string[]>
}

const tmp = join(root, '.bench-tmp')
mkdirSync(tmp, { recursive: true })
const loadgenBinary = join(tmp, 'fanout-loadgen')
let generatorKind: 'C' | 'JavaScript' = 'JavaScript'
try {
  execFileSync('cc', ['-O2', '-o', loadgenBinary, join(root, 'bench/fanout-loadgen.c')], {
    stdio: 'ignore',
  })
  generatorKind = 'C'
} catch {
  process.stderr.write('no C compiler: using the JavaScript load generator (saturates earlier)\n')
}

function startGenerator(
  port: number,
  count: number,
  index: number,
  probeEvery: number,
  path = '/sub',
): Generator {
  const args = [String(port), path, String(count), String(2 + index * 8), String(probeEvery)]
  const command =
    generatorKind === 'C' && existsSync(loadgenBinary)
      ? ['-c', '1', loadgenBinary, ...args]
      : [
          '-c',
          '1',
          process.execPath,
          '--import',
          'tsx',
          join(root, 'bench/fanout-client.ts'),
          ...args,
        ]
  const child = spawn('taskset', command, { stdio: ['pipe', 'pipe', 'inherit'], cwd: root })
  const waiting: { reply: string; resolve: (words: string[]) => void }[] = []
  let resolveOpened: (words: string[]) => void = () => {}
  const opened = new Promise<string[]>((resolve) => {
    resolveOpened = resolve
  })
  readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const words = line.split(' ')
    if (words[0] === 'open') return resolveOpened(words)
    const index = waiting.findIndex((w) => w.reply === words[0])
    if (index === -1) return
    const [waiter] = waiting.splice(index, 1)
    waiter?.resolve(words)
  })
  return {
    child,
    pid: child.pid as number,
    opened,
    ask(line, reply) {
      return new Promise((resolve) => {
        waiting.push({ reply, resolve })
        child.stdin?.write(`${line}\n`)
      })
    },
  }
}

interface Stats {
  delivered: number
  connected: number
  failed: number
  closedAfterOpen: number
}

async function totals(generators: Generator[]): Promise<Stats> {
  const all = (await Promise.all(generators.map((g) => g.ask('stats', 'stats')))).map(
    (w): Stats => ({
      delivered: Number(w[1]),
      connected: Number(w[2]),
      failed: Number(w[3]),
      closedAfterOpen: Number(w[4]),
    }),
  )
  return all.reduce(
    (sum, s) => ({
      delivered: sum.delivered + s.delivered,
      connected: sum.connected + s.connected,
      failed: sum.failed + s.failed,
      closedAfterOpen: sum.closedAfterOpen + s.closedAfterOpen,
    }),
    { delivered: 0, connected: 0, failed: 0, closedAfterOpen: 0 },
  )
}

const padding = 'x'.repeat(Math.max(0, payloadBytes - 30))

/** Set per measurement: the hub takes `POST /publish` with a JSON event. */
let hubPublish = false

function publishRequest(): string {
  if (hubPublish) {
    const body = `{"topic":"bench","data":{"t":${now().toFixed(3)},"p":"${padding}"}}`
    return `POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  }
  const body = `{"t":${now().toFixed(3)},"p":"${padding}"}`
  return `POST /pub HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

/**
 * A cheap publisher: raw keep-alive sockets, requests written as prebuilt strings, answers
 * counted by their status lines. http.request costs ~100 us per call, which on the shared
 * load-generator core would make the publisher, not the server, the bottleneck.
 */
interface PublishConnection {
  socket: net.Socket
  /** Answers still expected on this connection. */
  pending: number
  onAnswer: (() => void) | undefined
}

async function openPublishers(port: number, count: number): Promise<PublishConnection[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<PublishConnection>((resolve) => {
          const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
          const connection: PublishConnection = { socket, pending: 0, onAnswer: undefined }
          let tail = ''
          socket.setEncoding('latin1')
          socket.on('data', (chunk: string) => {
            const text = tail + chunk
            let at = text.indexOf('HTTP/1.1 ')
            while (at !== -1) {
              connection.pending--
              connection.onAnswer?.()
              at = text.indexOf('HTTP/1.1 ', at + 9)
            }
            tail = text.slice(-8)
          })
          socket.on('error', () => {})
          socket.on('connect', () => resolve(connection))
        }),
    ),
  )
}

/** Publishes for `ms`; returns how many events were published. */
async function runPublisher(
  publishers: PublishConnection[],
  load: string,
  subscribers: number,
  ms: number,
): Promise<number> {
  const start = performance.now()
  let sent = 0
  if (load === 'max') {
    // Closed loop: every connection keeps one publish in flight.
    await Promise.all(
      publishers.map(
        (connection) =>
          new Promise<void>((resolve) => {
            const next = () => {
              if (performance.now() - start >= ms) {
                connection.onAnswer = undefined
                return resolve()
              }
              sent++
              connection.pending++
              connection.socket.write(publishRequest())
            }
            connection.onAnswer = next
            // A connection the server closed will never answer: stop waiting for it.
            connection.socket.once('close', () => resolve())
            next()
          }),
      ),
    )
    return sent
  }
  // Open loop at the target rate, round-robin over the connections (pipelined).
  const rate = Number(load) / subscribers // events per second
  let turn = 0
  let skipped = 0
  while (performance.now() - start < ms) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate)
    while (sent + skipped < due) {
      // A server that cannot keep up answers late: past 4 unanswered publishes per
      // connection, skip instead of building a backlog that would spill into the next load.
      if (publishers.reduce((sum, c) => sum + c.pending, 0) >= 4 * publishers.length) {
        skipped++
        continue
      }
      sent++
      const connection = publishers[turn++ % publishers.length] as PublishConnection
      connection.pending++
      connection.socket.write(publishRequest())
    }
    await sleep(1)
  }
  const deadline = performance.now() + 10_000
  while (publishers.some((c) => c.pending > 0) && performance.now() < deadline) await sleep(5)
  return sent
}

/** Waits until deliveries stop arriving for 500 ms (at most 30 s). */
async function quiesce(generators: Generator[]): Promise<void> {
  const deadline = performance.now() + 30_000
  let last = -1
  let since = performance.now()
  while (performance.now() < deadline) {
    const { delivered } = await totals(generators)
    if (delivered !== last) {
      last = delivered
      since = performance.now()
    } else if (performance.now() - since >= 500) return
    await sleep(100)
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

interface Row {
  kind: Kind
  n: number
  load: string
  eventsPerSec: number
  deliveriesPerSec: number
  cpuUsPerDelivery: number
  cpuPercent: number
  loadCpuPercent: number
  p50: number
  p99: number
  complete: number
  /** CPU of the shared Redis or NATS server per delivery (hub-redis, hub-nats). */
  backendUsPerDelivery: number
}

interface MemoryRow {
  kind: Kind
  n: number
  perConnection: number
  connected: number
}

const rows: Row[] = []
const memory: MemoryRow[] = []

/** The backend server's pid (Redis, NATS), to report its CPU beside the hub's. */
function backendPid(kind: Kind): number | undefined {
  const port = kind === 'hub-redis' ? '6379' : kind === 'hub-nats' ? '4222' : undefined
  if (port === undefined) return undefined
  const out = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' }).stdout
  const match = /pid=(\d+)/.exec(out)
  return match === null ? undefined : Number(match[1])
}

async function measure(kind: Kind, n: number): Promise<void> {
  hubPublish = isHub(kind)
  const backend = backendPid(kind)
  const server = await startServer(kind)
  const generators: Generator[] = []
  try {
    // Memory per idle connection is measured on the second half of the connections:
    // (RSS after all - RSS after the first half) / second half. One-time growth (V8's young
    // generation, nginx's first pool pages) lands in the first half and is not counted.
    await sleep(300)
    const probeEvery = Math.max(1, Math.floor(n / 200))
    const firstHalf = Math.floor(n / 2)
    let connected = 0
    let connectedFirstHalf = 0
    let rssMiddle = 0
    for (const count of [firstHalf, n - firstHalf]) {
      const group: Generator[] = []
      for (let left = count; left > 0; left -= PER_GENERATOR) {
        group.push(
          startGenerator(
            server.port,
            Math.min(PER_GENERATOR, left),
            generators.length + group.length,
            probeEvery,
            isHub(kind) ? '/events?topic=bench' : '/sub',
          ),
        )
      }
      generators.push(...group)
      connected += (await Promise.all(group.map((g) => g.opened))).reduce(
        (sum, words) => sum + Number(words[1]),
        0,
      )
      await sleep(1000)
      if (rssMiddle === 0) {
        rssMiddle = rssBytes(server.pid)
        connectedFirstHalf = connected
      }
    }
    const rssEnd = rssBytes(server.pid)
    memory.push({
      kind,
      n,
      perConnection: (rssEnd - rssMiddle) / Math.max(1, connected - connectedFirstHalf),
      connected,
    })
    // Warm-up: one second at the first load, not measured.
    let publishers = await openPublishers(server.port, concurrency)
    await runPublisher(publishers, loads[0] ?? '20000', n, 1000)
    for (const connection of publishers) connection.socket.destroy()
    await sleep(300)
    for (const load of loads) {
      // Start each load from a quiet server: a saturated previous load may still be draining.
      await quiesce(generators)
      await Promise.all(generators.map((g) => g.ask('reset', 'reset')))
      // Fresh publish connections per load: idle keep-alive connections may have timed out.
      publishers = await openPublishers(server.port, concurrency)
      const cpu0 = cpuTicks(server.pid)
      const backendCpu0 = backend === undefined ? 0 : cpuTicks(backend)
      const loadCpu0 = generators.reduce((sum, g) => sum + cpuTicks(g.pid), cpuTicks(process.pid))
      const t0 = performance.now()
      const sent = await runPublisher(publishers, load, n, seconds * 1000)
      // Settle: wait until every delivery arrived or the count stops moving.
      let last = -1
      let lastChange = performance.now()
      let stats = await totals(generators)
      const expected = sent * connected
      const settleDeadline = performance.now() + 5000
      while (stats.delivered < expected && performance.now() < settleDeadline) {
        if (stats.delivered !== last) {
          last = stats.delivered
          lastChange = performance.now()
        } else if (performance.now() - lastChange > 500) break
        await sleep(50)
        stats = await totals(generators)
      }
      const cpu1 = cpuTicks(server.pid)
      const backendCpu1 = backend === undefined ? 0 : cpuTicks(backend)
      const loadCpu1 = generators.reduce((sum, g) => sum + cpuTicks(g.pid), cpuTicks(process.pid))
      const elapsed = Math.max(seconds * 1000, lastChange - t0) / 1000
      const samples: number[] = []
      for (const [i, g] of generators.entries()) {
        const file = join(tmp, `latencies-${i}.bin`)
        await g.ask(`lat ${file}`, 'lat')
        const bytes = readFileSync(file)
        const values = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8)
        for (const v of values) samples.push(v)
        rmSync(file, { force: true })
      }
      const latencies = Float64Array.from(samples).sort()
      const cpuUs = ((cpu1 - cpu0) * 1e6) / CLK_TCK
      const row: Row = {
        kind,
        n,
        load,
        eventsPerSec: sent / seconds,
        deliveriesPerSec: stats.delivered / elapsed,
        cpuUsPerDelivery: cpuUs / Math.max(1, stats.delivered),
        cpuPercent: (cpuUs / 1e6 / elapsed) * 100,
        loadCpuPercent: ((loadCpu1 - loadCpu0) / CLK_TCK / elapsed) * 100,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        complete: expected === 0 ? 1 : stats.delivered / expected,
        backendUsPerDelivery:
          backend === undefined
            ? Number.NaN
            : ((backendCpu1 - backendCpu0) * 1e6) / CLK_TCK / Math.max(1, stats.delivered),
      }
      rows.push(row)
      process.stderr.write(
        `${kind} n=${n} load=${load}: ${row.eventsPerSec.toFixed(1)} ev/s, ${Math.round(row.deliveriesPerSec)} deliveries/s, ${row.cpuUsPerDelivery.toFixed(2)} us/delivery, cpu ${row.cpuPercent.toFixed(0)}% (load generator ${row.loadCpuPercent.toFixed(0)}%), p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms, ${(row.complete * 100).toFixed(1)}% delivered, ${stats.closedAfterOpen} dropped\n`,
      )
      for (const connection of publishers) connection.socket.destroy()
      await sleep(300)
    }
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

for (const n of sizes) {
  for (const kind of kinds) await measure(kind, n)
}
// Leave the shared Redis and NATS as they were.
if (kinds.includes('hub-redis')) {
  const { createClient } = await import('@redis/client')
  const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', RESP: 2 })
  await client.connect()
  for await (const keys of client.scanIterator({
    MATCH: `herald:v1:{bench-${run}}:*`,
    COUNT: 1000,
  })) {
    if (keys.length > 0) await client.del(keys)
  }
  await client.close()
}
if (kinds.includes('hub-nats')) {
  const { connect } = await import('@nats-io/transport-node')
  const { jetstreamManager } = await import('@nats-io/jetstream')
  const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' })
  const jsm = await jetstreamManager(nc)
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`herald-v1-bench-${run}`)) await jsm.streams.delete(name)
  }
  await nc.close()
}

const fmt = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a')
const out: string[] = []
out.push(
  `machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim()}`,
)
out.push(
  `payload ${payloadBytes} B, ${seconds} s per load, closed-loop concurrency ${concurrency}, ${generatorKind} load generator`,
)
out.push('')
out.push(
  '| N | load (deliveries/s target) | server | events/s | deliveries/s | CPU us/delivery | server CPU | load-gen CPU | p50 ms | p99 ms | delivered |',
)
out.push('|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  out.push(
    `| ${r.n} | ${r.load} | ${r.kind} | ${fmt(r.eventsPerSec, 1)} | ${Math.round(r.deliveriesPerSec)} | ${fmt(r.cpuUsPerDelivery)} | ${fmt(r.cpuPercent, 0)}% | ${fmt(r.loadCpuPercent, 0)}% | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.complete * 100, 1)}% |`,
  )
}
out.push('')
out.push('| N | server | RSS per idle connection (bytes) | connected |')
out.push('|---|---|---|---|')
for (const m of memory) {
  out.push(`| ${m.n} | ${m.kind} | ${Math.round(m.perConnection)} | ${m.connected} |`)
}
// Ratios against nchan, the reference peer.
const isHerald = (kind: Kind) => kind === 'herald' || kind === 'herald-lean'
const ratioLines: string[] = []
for (const r of rows.filter((x) => isHerald(x.kind))) {
  const peer = rows.find((x) => x.kind === 'nchan' && x.n === r.n && x.load === r.load)
  if (peer === undefined) continue
  ratioLines.push(
    `| ${r.n} | ${r.load} | ${r.kind} | ${fmt(r.cpuUsPerDelivery / peer.cpuUsPerDelivery)} | ${fmt(r.deliveriesPerSec / peer.deliveriesPerSec)} | ${fmt(r.p99 / peer.p99)} |`,
  )
}
if (ratioLines.length > 0) {
  out.push('')
  out.push('| N | load | server | CPU per delivery / nchan | deliveries/s / nchan | p99 / nchan |')
  out.push('|---|---|---|---|---|---|')
  out.push(...ratioLines)
}
// The networked stores against the memory store (issue 11's target: within 1.2x).
const storeLines: string[] = []
for (const r of rows.filter((x) => x.kind === 'hub-redis' || x.kind === 'hub-nats')) {
  const base = rows.find((x) => x.kind === 'hub-memory' && x.n === r.n && x.load === r.load)
  if (base === undefined) continue
  storeLines.push(
    `| ${r.n} | ${r.load} | ${r.kind} | ${fmt(r.cpuUsPerDelivery / base.cpuUsPerDelivery)} | ${fmt(r.deliveriesPerSec / base.deliveriesPerSec)} | ${fmt(r.backendUsPerDelivery, 3)} |`,
  )
}
if (storeLines.length > 0) {
  out.push('')
  out.push(
    '| N | load | hub on | hub CPU per delivery / memory | deliveries/s / memory | backend server CPU us/delivery |',
  )
  out.push('|---|---|---|---|---|---|')
  out.push(...storeLines)
}
const memoryRatios: string[] = []
for (const m of memory.filter((x) => isHerald(x.kind))) {
  const peer = memory.find((x) => x.kind === 'nchan' && x.n === m.n)
  if (peer !== undefined) {
    memoryRatios.push(`${m.kind} N=${m.n}: ${fmt(m.perConnection / peer.perConnection)}`)
  }
}
if (memoryRatios.length > 0) {
  out.push('')
  out.push(`RSS per idle connection / nchan: ${memoryRatios.join(', ')}`)
}
process.stdout.write(`${out.join('\n')}\n`)
