/**
 * `npm run bench:hub`: the hub's publish and replay throughput, in one run.
 *
 * 1. Store level, in process: `EventStore.append` into memory and SQLite, one event per
 *    append awaited one by one (SQLite: one transaction each), one event per append with
 *    many in flight (SQLite: one transaction per event-loop turn), and batches of 100;
 *    then `read` paging through the log (replay).
 * 2. Over HTTP, against the real `herald serve` (memory and SQLite) and nchan (nginx +
 *    libnginx-mod-nchan, in-memory message buffer) as the peer: POST one event per request
 *    with BENCH_CONCURRENCY requests in flight (nchan has no batch publish; Herald batched
 *    rows have no peer), then one subscriber replaying the whole backlog from the start.
 *
 * Environment: BENCH_EVENTS (store level, default 100000), BENCH_HTTP_EVENTS (default 20000),
 * BENCH_REPLAY_EVENTS (default 50000), BENCH_CONCURRENCY (default 32), BENCH_ROUNDS (HTTP rounds,
 * medians reported; default 3), BENCH_PAYLOAD (bytes,
 * default 128), BENCH_SERVERS (herald-memory,herald-sqlite,nchan,node-floor). `node-floor` is a
 * bare node:http server answering every POST with 200 and doing nothing: the ceiling for any
 * Node publish endpoint on this machine, so Herald's own cost shows against it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { join } from 'node:path'
import type { AppendInput, EventStore } from '@herald/hub'
import { createMemoryEventStore } from '@herald/hub'
import { createParser } from '@herald/protocol'
import { createSqliteEventStore } from '@herald/store-sqlite'
import { startHubProcess } from '@herald/testkit'
import { freePort, waitForPort } from './ports.js'

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000)
const HTTP_EVENTS = Number(process.env.BENCH_HTTP_EVENTS ?? 20_000)
const REPLAY_EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 50_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const PAYLOAD = 'x'.repeat(Number(process.env.BENCH_PAYLOAD ?? 128))
const SERVERS = (process.env.BENCH_SERVERS ?? 'herald-memory,herald-sqlite,nchan,node-floor').split(
  ',',
)
const tmp = mkdtempSync(join(os.tmpdir(), 'herald-bench-hub-'))

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000)
const fmt = (n: number) => n.toLocaleString('en-US')

function time<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint()
  return fn().then((value) => ({ ms: Number(process.hrtime.bigint() - start) / 1e6, value }))
}

function input(i: number): AppendInput {
  return { topic: `bench/${i % 16}`, data: PAYLOAD }
}

// ---------------------------------------------------------------------------------------
// 1. Store level

async function storeRows(name: string, open: () => EventStore): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  {
    const store = open()
    const n = Math.min(EVENTS, name === 'sqlite' ? 10_000 : EVENTS)
    const { ms } = await time(async () => {
      for (let i = 0; i < n; i++) await store.append([input(i)])
    })
    out.sequential = rate(n, ms)
    await store.close()
  }
  {
    const store = open()
    const { ms } = await time(async () => {
      const inFlight: Promise<unknown>[] = []
      for (let i = 0; i < EVENTS; i++) {
        inFlight.push(store.append([input(i)]))
        if (inFlight.length === 256) await Promise.all(inFlight.splice(0))
      }
      await Promise.all(inFlight)
    })
    out.concurrent = rate(EVENTS, ms)
    await store.close()
  }
  const store = open()
  {
    const { ms } = await time(async () => {
      for (let i = 0; i < EVENTS; i += 100) {
        await store.append(Array.from({ length: 100 }, (_, j) => input(i + j)))
      }
    })
    out.batched = rate(EVENTS, ms)
  }
  {
    /** Reads everything from the start, in pages of 1000; resolves to the event count. */
    const replayAll = async (topics: string[]): Promise<number> => {
      let cursor: string | undefined = '0'
      let n = 0
      for (;;) {
        const page = await store.read(cursor, { topics, limit: 1000 })
        if (page.kind === 'reset') throw new Error('unexpected reset')
        n += page.events.length
        if (!page.more) return n
        cursor = page.cursor
      }
    }
    const { ms, value } = await time(() => replayAll(['bench/**']))
    out.replay = rate(value, ms)
    const { ms: oneMs, value: oneN } = await time(() => replayAll(['bench/3']))
    out.replayOne = rate(oneN, oneMs)
  }
  await store.close()
  return out
}

// ---------------------------------------------------------------------------------------
// 2. HTTP

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })

function post(url: string, body: string, type: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': type } },
      (response) => {
        response.resume()
        response.on('end', () => resolve(response.statusCode ?? 0))
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

async function publishLoad(
  requests: number,
  send: (i: number) => Promise<number>,
): Promise<number> {
  let next = 0
  const { ms } = await time(async () => {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests) {
          const status = await send(next++)
          if (status >= 300) throw new Error(`publish answered ${status}`)
        }
      }),
    )
  })
  return ms
}

/** Reads `count` events from an event stream; resolves with the elapsed milliseconds. */
function replay(url: string, count: number, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    let seen = 0
    const request = http.get(
      url,
      { headers: { accept: 'text/event-stream', ...headers } },
      (response) => {
        const parser = createParser({
          onEvent() {
            if (++seen === count) {
              resolve(Number(process.hrtime.bigint() - start) / 1e6)
              request.destroy()
            }
          },
        })
        response.on('data', (chunk: Buffer) => parser.feed(chunk))
        response.on('end', () => {
          if (seen < count) reject(new Error(`stream ended after ${seen} of ${count} events`))
        })
      },
    )
    request.on('error', (error) => {
      if (seen < count) reject(error)
    })
  })
}

async function startNchan(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = join(tmp, 'nchan')
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    mkdirSync(join(dir, d), { recursive: true })
  const port = await freePort()
  const buffer = Math.max(HTTP_EVENTS, REPLAY_EVENTS) + 10
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
  nchan_shared_memory_size 512M;
  server {
    listen 127.0.0.1:${port};
    location ~ ^/pub/(\\w+)$ {
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length ${buffer};
      nchan_message_timeout 1h;
    }
    location ~ ^/sub/(\\w+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_subscriber_first_message oldest;
    }
  }
}
`,
  )
  const child: ChildProcess = spawn('/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], {
    stdio: 'ignore',
  })
  await waitForPort(port, 10_000)
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

interface HttpResult {
  single: number
  batched: number | undefined
  replay: number | undefined
}

/** The floor: bare node:http answering every POST at once, doing nothing. */
async function startNodeFloor(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort()
  const script = `require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200, { 'content-type': 'application/json' }); s.end('{"id":"1"}') }) }).listen(${port}, '127.0.0.1', () => console.log('up'))`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] })
  await new Promise((resolve) => child.stdout?.once('data', resolve))
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

async function httpRows(kind: string): Promise<HttpResult> {
  if (kind === 'node-floor') {
    const floor = await startNodeFloor()
    try {
      const singleMs = await publishLoad(HTTP_EVENTS, () =>
        post(`${floor.url}/publish`, PAYLOAD, 'text/plain'),
      )
      return { single: rate(HTTP_EVENTS, singleMs), batched: undefined, replay: undefined }
    } finally {
      await floor.stop()
    }
  }
  if (kind === 'nchan') {
    const nchan = await startNchan()
    try {
      const singleMs = await publishLoad(HTTP_EVENTS, () =>
        post(`${nchan.url}/pub/single`, PAYLOAD, 'text/plain'),
      )
      await publishLoad(REPLAY_EVENTS, () => post(`${nchan.url}/pub/replay`, PAYLOAD, 'text/plain'))
      const replayMs = await replay(`${nchan.url}/sub/replay`, REPLAY_EVENTS)
      return {
        single: rate(HTTP_EVENTS, singleMs),
        batched: undefined,
        replay: rate(REPLAY_EVENTS, replayMs),
      }
    } finally {
      await nchan.stop()
    }
  }
  const store = kind === 'herald-memory' ? 'memory' : `sqlite:${join(tmp, `${kind}.db`)}`
  const hub = await startHubProcess({
    args: [
      '--store',
      store,
      '--publish-rate',
      '0',
      '--heartbeat',
      '0',
      '--log-level',
      'error',
      '--retention-events',
      String(10 * (HTTP_EVENTS + REPLAY_EVENTS)),
    ],
  })
  try {
    const one = (topic: string) => JSON.stringify({ topic, data: PAYLOAD })
    const singleMs = await publishLoad(HTTP_EVENTS, () =>
      post(`${hub.url}/publish`, one('single'), 'application/json'),
    )
    const batch = JSON.stringify(
      Array.from({ length: 100 }, () => ({ topic: 'batched', data: PAYLOAD })),
    )
    const batchedMs = await publishLoad(HTTP_EVENTS / 100, () =>
      post(`${hub.url}/publish`, batch, 'application/json'),
    )
    const replayBatch = JSON.stringify(
      Array.from({ length: 100 }, () => ({ topic: 'replay', data: PAYLOAD })),
    )
    await publishLoad(REPLAY_EVENTS / 100, () =>
      post(`${hub.url}/publish`, replayBatch, 'application/json'),
    )
    const replayMs = await replay(`${hub.url}/events?topic=replay&lastEventId=0`, REPLAY_EVENTS)
    return {
      single: rate(HTTP_EVENTS, singleMs),
      batched: rate(HTTP_EVENTS, batchedMs),
      replay: rate(REPLAY_EVENTS, replayMs),
    }
  } finally {
    await hub.stop()
  }
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  console.log(
    `Herald hub benchmark: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, Node ${process.version}`,
  )
  console.log(
    `payload ${PAYLOAD.length} B; store level ${fmt(EVENTS)} events; HTTP ${fmt(HTTP_EVENTS)} events, ${CONCURRENCY} in flight, median of ${ROUNDS} rounds; replay ${fmt(REPLAY_EVENTS)} events\n`,
  )

  const memory = await storeRows('memory', () =>
    createMemoryEventStore({ retention: { maxEvents: EVENTS * 2 } }),
  )
  let n = 0
  const sqlite = await storeRows('sqlite', () =>
    createSqliteEventStore({
      path: join(tmp, `store-${n++}.db`),
      retention: { maxEvents: EVENTS * 2 },
    }),
  )
  const labels: [string, string][] = [
    ['sequential', 'append 1 event, awaited one by one'],
    ['concurrent', 'append 1 event, 256 in flight'],
    ['batched', 'append batches of 100'],
    ['replay', 'read, all topics (pages of 1000)'],
    ['replayOne', 'read, 1 topic of 16 (pages of 1000)'],
  ]
  console.log('| store level (events/s) | memory | SQLite (WAL) | SQLite / memory |')
  console.log('|---|---|---|---|')
  for (const [key, label] of labels) {
    const m = memory[key] as number
    const s = sqlite[key] as number
    console.log(`| ${label} | ${fmt(m)} | ${fmt(s)} | ${(s / m).toFixed(2)}x |`)
  }

  // Rounds interleave the servers, and each figure is the median of its rounds: the
  // machine is shared, and a burst of noise then hits every server alike.
  const runs: Record<string, HttpResult[]> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of SERVERS) {
      const list = runs[kind] ?? []
      list.push(await httpRows(kind))
      runs[kind] = list
    }
  }
  const median = (values: (number | undefined)[]): number | undefined => {
    const defined = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b)
    return defined[Math.floor(defined.length / 2)]
  }
  const results: Record<string, HttpResult> = {}
  for (const [kind, list] of Object.entries(runs)) {
    results[kind] = {
      single: median(list.map((r) => r.single)) ?? 0,
      batched: median(list.map((r) => r.batched)),
      replay: median(list.map((r) => r.replay)),
    }
  }
  const peer = results.nchan
  console.log(`\n| over HTTP (events/s) | ${SERVERS.join(' | ')} |`)
  console.log(`|---|${SERVERS.map(() => '---').join('|')}|`)
  const cell = (v: number | undefined, base: number | undefined) =>
    v === undefined ? 'n/a' : base === undefined ? fmt(v) : `${fmt(v)} (${(v / base).toFixed(2)}x)`
  console.log(
    `| publish, 1 event per POST | ${SERVERS.map((k) => cell(results[k]?.single, peer?.single)).join(' | ')} |`,
  )
  console.log(
    `| publish, 100 events per POST | ${SERVERS.map((k) => cell(results[k]?.batched, undefined)).join(' | ')} |`,
  )
  console.log(
    `| replay from the start, 1 subscriber | ${SERVERS.map((k) => cell(results[k]?.replay, peer?.replay)).join(' | ')} |`,
  )
  if (peer !== undefined) console.log('\n(x): ratio to nchan on the same row.')
  const floor = results['node-floor']?.single
  const herald = results['herald-memory']?.single
  if (floor !== undefined && herald !== undefined) {
    console.log(
      `Herald (memory), 1 event per POST: ${(herald / floor).toFixed(2)}x the bare node:http floor.`,
    )
  }
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(() => {
    agent.destroy()
    rmSync(tmp, { recursive: true, force: true })
  })
