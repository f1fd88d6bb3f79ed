/**
 * `npm run bench:scale` (second half; the first half is bench/fanout.ts with the hub on the
 * memory, Redis and NATS stores): publish and replay throughput of `herald serve` on each
 * store against nchan configured with the same Redis (`nchan_redis_url`), and the rare-topic
 * replay: the time to read a few matching events as the log around them grows.
 *
 * Every server runs alone on core 0 (`taskset -c 0`); wrk and this process run on core 1.
 * Redis and NATS are the shared servers (REDIS_URL, NATS_URL), unpinned: their CPU is reported
 * beside the server's.
 *
 * Servers (BENCH_SERVERS): herald-memory, herald-redis, herald-nats, nchan-redis, and each
 * herald one with `-lean` (the same with `--lean-publish`), or with `@before` (the same server
 * from the build in BENCH_BEFORE, a checkout of an earlier commit, built: before and after in
 * one run, interleaved per round).
 *
 * - publish: wrk, one thread, 32 keep-alive connections, the same 100-byte JSON event on
 *   every request (bench/publish.lua), BENCH_SECONDS (5) per server, BENCH_ROUNDS (2) rounds
 *   with the servers interleaved;
 * - replay: BENCH_REPLAY (20 000) events on one topic, then one client reads them all from
 *   the start (`Last-Event-ID: 0`; nchan: `nchan_subscriber_first_message oldest`), timed to
 *   the last event;
 * - rare topic (the stores themselves, in this process): BENCH_RARE_SIZES (10000,50000,200000)
 *   events of 50 busy topics, 10 events of `rare/x` spread among them; the median time of 5
 *   reads of `rare/x` from the start, and of the pattern `rare/*`.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import type { EventStore } from '@herald/store'
import { createNatsEventStore } from '@herald/store-nats'
import { createRedisEventStore } from '@herald/store-redis'
import { freePort, waitForPort } from './ports.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const REPLAY = Number(process.env.BENCH_REPLAY ?? 20_000)
const RARE_SIZES = (process.env.BENCH_RARE_SIZES ?? '10000,50000,200000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0)
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const root = new URL('..', import.meta.url).pathname
const run = `bs${process.pid}`
const tmp = mkdtempSync(join(os.tmpdir(), 'herald-bench-scale-'))
const CLK_TCK = 100

execFileSync('taskset', ['-a', '-pc', '1', String(process.pid)], { stdio: 'ignore' })

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

function listenerPid(port: number): number | undefined {
  const out = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' }).stdout
  const match = /pid=(\d+)/.exec(out)
  return match === null ? undefined : Number(match[1])
}
const redisPid = listenerPid(Number(new URL(REDIS_URL).port || 6379))
const natsPid = listenerPid(Number(new URL(NATS_URL).port || 4222))

interface Server {
  kind: string
  url: string
  pid: number
  /** Publish path, and how to publish one event / subscribe from the start. */
  publishPath: string
  subscribePath: string
  backendPid: number | undefined
  stop(): Promise<void>
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), 3000).unref()
  })
}

async function startServer(kind: string): Promise<Server> {
  const port = await freePort()
  if (kind === 'nchan-redis') {
    const dir = mkdtempSync(join(tmp, 'nchan-'))
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d))
    const redis = new URL(REDIS_URL)
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  nchan_redis_url "redis://${redis.hostname}:${redis.port || 6379}";
  nchan_redis_namespace "${run}";
  server {
    listen 127.0.0.1:${port};
    location ~ ^/pub/(\\w+)$ {
      nchan_publisher;
      nchan_use_redis on;
      nchan_channel_id $1;
      nchan_message_buffer_length ${REPLAY + 1000};
      nchan_message_timeout 1h;
    }
    location ~ ^/sub/(\\w+)$ {
      nchan_subscriber eventsource;
      nchan_use_redis on;
      nchan_channel_id $1;
      nchan_subscriber_first_message oldest;
    }
  }
}
`,
    )
    const child = spawn(
      'taskset',
      ['-c', '0', 'nginx', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
      { stdio: 'ignore' },
    )
    await waitForPort(port)
    return {
      kind,
      url: `http://127.0.0.1:${port}`,
      pid: child.pid as number,
      publishPath: '/pub/bench',
      subscribePath: '/sub/replay',
      backendPid: redisPid,
      async stop() {
        await stopChild(child)
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  // `herald-redis-lean` etc.: the same store with --lean-publish (publishes answered on the
  // lean HTTP/1.1 path); `herald-redis@before`: the build in BENCH_BEFORE.
  const [name = kind, build] = kind.split('@')
  const base = build === undefined ? root : process.env.BENCH_BEFORE
  if (base === undefined) throw new Error(`${kind}: set BENCH_BEFORE to the earlier build`)
  const lean = name.endsWith('-lean')
  const store = {
    'herald-memory': 'memory',
    'herald-redis': `${REDIS_URL}?namespace=${run}-${port}`,
    'herald-nats': `${NATS_URL}?namespace=${run}-${port}`,
  }[lean ? name.slice(0, -'-lean'.length) : name]
  if (store === undefined) throw new Error(`unknown server ${kind}`)
  const child = spawn(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      join(base, 'packages/cli/dist/bin.js'),
      'serve',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--store',
      store,
      '--publish-rate',
      '0',
      '--log-level',
      'warn',
      '--retention-events',
      '1000000',
      ...(lean ? ['--lean-publish'] : []),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], cwd: base },
  )
  await waitForPort(port)
  return {
    kind,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    publishPath: '/publish',
    subscribePath: '/events?topic=replay&lastEventId=0',
    backendPid: store.startsWith('redis')
      ? redisPid
      : store.startsWith('nats')
        ? natsPid
        : undefined,
    stop: () => stopChild(child),
  }
}

const padding = 100 - JSON.stringify({ topic: 'bench/single', data: '' }).length
const singleFile = join(tmp, 'single.json')
writeFileSync(singleFile, JSON.stringify({ topic: 'bench/single', data: 'x'.repeat(padding) }))
const nchanFile = join(tmp, 'nchan.json')
writeFileSync(nchanFile, 'x'.repeat(100))

interface Publish {
  rate: number
  serverCpu: number
  backendUsPerPublish: number
}

async function publishLoad(server: Server, seconds: number): Promise<Publish> {
  const before = cpuTicks(server.pid)
  const backendBefore = server.backendPid === undefined ? 0 : cpuTicks(server.backendPid)
  const started = performance.now()
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      'taskset',
      [
        '-c',
        '1',
        'wrk',
        '-t1',
        '-c32',
        `-d${seconds}s`,
        '-s',
        join(root, 'bench/publish.lua'),
        `${server.url}${server.publishPath}`,
      ],
      {
        env: { ...process.env, BENCH_BODY: server.kind === 'nchan-redis' ? nchanFile : singleFile },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let out = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk: ${out}`))))
  })
  const elapsed = (performance.now() - started) / 1000
  const line = output.split('\n').find((l) => l.startsWith('{"requests"'))
  if (line === undefined) throw new Error(`no summary from wrk:\n${output}`)
  const summary = JSON.parse(line) as {
    requests: number
    durationUs: number
    non2xx: number
    socketErrors: number
  }
  // On a loaded machine: wrk's timeouts (2 s) and 503s (the store's deadline) are counted and
  // shown, the round is kept (its rate counts answered requests only).
  if (summary.non2xx > 0 || summary.socketErrors > 0) {
    process.stderr.write(
      `${server.kind}: ${summary.non2xx} error answers, ${summary.socketErrors} socket errors\n`,
    )
  }
  const backendUs =
    server.backendPid === undefined
      ? Number.NaN
      : ((cpuTicks(server.backendPid) - backendBefore) * 1e6) / CLK_TCK
  return {
    rate: (summary.requests - summary.non2xx) / (summary.durationUs / 1e6),
    serverCpu: ((cpuTicks(server.pid) - before) / CLK_TCK / elapsed) * 100,
    backendUsPerPublish: backendUs / summary.requests,
  }
}

/** Publishes `count` events on topic `replay` (herald: batches of 100; nchan: one by one). */
async function prefill(server: Server, count: number): Promise<void> {
  const body = 'r'.repeat(100)
  const batch = server.kind === 'nchan-redis' ? 1 : 100
  const requests = Math.ceil(count / batch)
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < requests) {
        next++
        const res =
          server.kind === 'nchan-redis'
            ? await fetch(`${server.url}/pub/replay`, { method: 'POST', body })
            : await fetch(`${server.url}/publish`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(
                  Array.from({ length: batch }, () => ({ topic: 'replay', data: body })),
                ),
              })
        await res.arrayBuffer()
        // 503 (the store's deadline passed on a loaded machine): the same request again.
        if (res.status === 503) next--
        else if (res.status >= 300)
          throw new Error(`${server.kind}: prefill answered ${res.status}`)
      }
    }),
  )
}

/** One client reads `count` events from the start; resolves with events/s. */
function replay(server: Server, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url)
    const socket = net.connect({ port: Number(url.port), host: '127.0.0.1' })
    const started = performance.now()
    let seen = 0
    let carry = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`${server.kind}: replay saw ${seen} of ${count} events`))
    }, 120_000)
    socket.setEncoding('latin1')
    socket.on('connect', () =>
      socket.write(
        `GET ${server.subscribePath} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
      ),
    )
    socket.on('data', (chunk: string) => {
      const text = carry + chunk
      let at = text.indexOf('\ndata: ')
      while (at !== -1) {
        seen++
        at = text.indexOf('\ndata: ', at + 7)
      }
      carry = text.slice(-6)
      if (seen >= count) {
        clearTimeout(timer)
        socket.destroy()
        resolve(count / ((performance.now() - started) / 1000))
      }
    })
    socket.on('error', reject)
  })
}

const SERVERS = (
  process.env.BENCH_SERVERS ?? 'herald-memory,herald-redis,herald-nats,nchan-redis'
).split(',')
const publishes = new Map<string, Publish[]>()
const replays = new Map<string, number>()
for (let round = 0; round < ROUNDS; round++) {
  for (const kind of SERVERS) {
    const server = await startServer(kind)
    try {
      await publishLoad(server, 1) // warm-up
      const result = await publishLoad(server, SECONDS)
      publishes.set(kind, [...(publishes.get(kind) ?? []), result])
      process.stderr.write(`${kind} round ${round + 1}: ${Math.round(result.rate)} publishes/s\n`)
      if (round === 0) {
        await prefill(server, REPLAY)
        const rate = await replay(server, REPLAY)
        replays.set(kind, rate)
        process.stderr.write(`${kind}: replay ${Math.round(rate)} events/s\n`)
      }
    } finally {
      await server.stop()
    }
  }
}

// Rare topic among busy ones, on the stores themselves.
interface Rare {
  store: string
  size: number
  exactMs: number
  patternMs: number
}
const rare: Rare[] = []
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
async function timeRead(store: EventStore, topics: string[]): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now()
    let cursor: string | undefined = '0'
    let found = 0
    for (;;) {
      const page = await store.read(cursor, { topics, limit: 100 })
      if (page.kind === 'reset') throw new Error('unexpected reset')
      found += page.events.length
      if (!page.more) break
      cursor = page.cursor
    }
    times.push(performance.now() - t0)
    if (found !== 10) throw new Error(`rare read found ${found} events`)
  }
  return median(times)
}
for (const [name, open] of [
  [
    'redis',
    (ns: string) =>
      createRedisEventStore({ url: REDIS_URL, namespace: ns, commandTimeoutMs: 30_000 }),
  ],
  [
    'nats',
    (ns: string) =>
      createNatsEventStore({ url: NATS_URL, namespace: ns, commandTimeoutMs: 30_000 }),
  ],
] as const) {
  for (const size of RARE_SIZES) {
    const ns = `${run}-rare-${size}`
    const store = open(ns)
    const every = Math.floor(size / 10)
    for (let at = 0; at < size; at += 1000) {
      const batch = Array.from({ length: Math.min(1000, size - at) }, (_, i) => ({
        topic: (at + i) % every === every - 1 ? 'rare/x' : `busy/${(at + i) % 50}`,
        data: 'x'.repeat(100),
      }))
      await store.append(batch)
    }
    const exactMs = await timeRead(store, ['rare/x'])
    const patternMs = await timeRead(store, ['rare/*'])
    rare.push({ store: name, size, exactMs, patternMs })
    process.stderr.write(
      `${name} rare in ${size}: ${exactMs.toFixed(2)} ms exact, ${patternMs.toFixed(2)} ms pattern\n`,
    )
    await store.close()
  }
}

// Clean up the shared servers.
{
  const { createClient } = await import('@redis/client')
  const client = createClient({ url: REDIS_URL, RESP: 2 })
  await client.connect()
  for (const match of [`herald:v1:{${run}*`, `${run}*`]) {
    for await (const keys of client.scanIterator({ MATCH: match, COUNT: 1000 })) {
      if (keys.length > 0) await client.del(keys)
    }
  }
  await client.close()
  const { connect } = await import('@nats-io/transport-node')
  const { jetstreamManager } = await import('@nats-io/jetstream')
  const nc = await connect({ servers: NATS_URL })
  const jsm = await jetstreamManager(nc)
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(`herald-v1-${run}`)) await jsm.streams.delete(name)
  }
  await nc.close()
}
rmSync(tmp, { recursive: true, force: true })

const fmt = (v: number, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a')
const out: string[] = []
out.push(
  `machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, Node ${process.version}`,
)
out.push('')
out.push(
  '| server | publishes/s (rounds) | publishes/s (median) | server CPU | server CPU us/publish | backend CPU us/publish | replay events/s |',
)
out.push('|---|---|---|---|---|---|---|')
const nchanRate = median((publishes.get('nchan-redis') ?? []).map((p) => p.rate))
for (const kind of SERVERS) {
  const list = publishes.get(kind) ?? []
  const rate = median(list.map((p) => p.rate))
  out.push(
    `| ${kind} | ${list.map((p) => fmt(p.rate)).join(' / ')} | ${fmt(rate)} | ${fmt(median(list.map((p) => p.serverCpu)))}% | ${fmt(median(list.map((p) => (p.serverCpu * 1e4) / p.rate)), 1)} | ${fmt(median(list.map((p) => p.backendUsPerPublish)), 1)} | ${fmt(replays.get(kind) ?? Number.NaN)} |`,
  )
}
out.push('')
out.push('| vs nchan-redis | publishes/s ratio | replay ratio |')
out.push('|---|---|---|')
for (const kind of SERVERS.filter((k) => k !== 'nchan-redis')) {
  const rate = median((publishes.get(kind) ?? []).map((p) => p.rate))
  out.push(
    `| ${kind} | ${fmt(rate / nchanRate, 2)} | ${fmt((replays.get(kind) ?? Number.NaN) / (replays.get('nchan-redis') ?? Number.NaN), 2)} |`,
  )
}
out.push('')
out.push('| store | log size | read rare/x (10 events) ms | read rare/* ms |')
out.push('|---|---|---|---|')
for (const r of rare)
  out.push(`| ${r.store} | ${r.size} | ${fmt(r.exactMs, 2)} | ${fmt(r.patternMs, 2)} |`)
process.stdout.write(`${out.join('\n')}\n`)
