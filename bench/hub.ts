/**
 * `npm run bench:hub`: the hub's store-level throughput and its replay over HTTP, in one run.
 *
 * 1. Store level, in process: `EventStore.append` into memory and SQLite, one event per
 *    append awaited one by one (SQLite: one transaction each), one event per append with
 *    many in flight (SQLite: one transaction per event-loop turn), and batches of 100;
 *    then `read` paging through the log (replay).
 * 2. Replay over HTTP, against the real `herald serve` (memory and SQLite) and nchan (nginx +
 *    libnginx-mod-nchan, in-memory message buffer) as the peer: the backlog is published
 *    (not timed), then one subscriber reads it all from the start.
 *
 * Publish throughput over HTTP is `npm run bench:publish` (bench/publish.ts): it needs a load
 * generator in its own process on the other core. A Node client in this process measured
 * itself (9,330 publishes/s against a bare node:http server that wrk drives at ~50,000/s).
 *
 * Environment: BENCH_EVENTS (store level, default 100000), BENCH_REPLAY_EVENTS (default
 * 50000), BENCH_CONCURRENCY (publishes in flight while filling the backlog, default 32),
 * BENCH_ROUNDS (HTTP rounds, medians reported; default 3), BENCH_PAYLOAD (bytes, default 128),
 * BENCH_SERVERS (herald-memory,herald-sqlite,nchan).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { join } from 'node:path'
import type { AppendInput, EventStore } from '@herald/hub'
import { createMemoryEventStore } from '@herald/hub'
import { createParser } from '@herald/protocol'
import { createSqliteEventStore } from '@herald/store-sqlite'
import { startHubProcess } from '@herald/testkit'
import { startNchan } from './nchan.js'

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000)
const REPLAY_EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 50_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const PAYLOAD = 'x'.repeat(Number(process.env.BENCH_PAYLOAD ?? 128))
const SERVERS = (process.env.BENCH_SERVERS ?? 'herald-memory,herald-sqlite,nchan').split(',')
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

/** Publishes REPLAY_EVENTS events, then times one subscriber reading them all from the start. */
async function replayRate(kind: string): Promise<number> {
  if (kind === 'nchan') {
    const nchan = await startNchan({ bufferLength: REPLAY_EVENTS + 10 })
    try {
      await publishLoad(REPLAY_EVENTS, () => post(`${nchan.url}/pub/replay`, PAYLOAD, 'text/plain'))
      return rate(REPLAY_EVENTS, await replay(`${nchan.url}/sub/replay`, REPLAY_EVENTS))
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
      String(10 * REPLAY_EVENTS),
    ],
  })
  try {
    const batch = JSON.stringify(
      Array.from({ length: 100 }, () => ({ topic: 'replay', data: PAYLOAD })),
    )
    await publishLoad(REPLAY_EVENTS / 100, () =>
      post(`${hub.url}/publish`, batch, 'application/json'),
    )
    return rate(
      REPLAY_EVENTS,
      await replay(`${hub.url}/events?topic=replay&lastEventId=0`, REPLAY_EVENTS),
    )
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
    `payload ${PAYLOAD.length} B; store level ${fmt(EVENTS)} events; replay ${fmt(REPLAY_EVENTS)} events over HTTP, median of ${ROUNDS} rounds\n`,
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
  const runs: Record<string, number[]> = {}
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of SERVERS) {
      const list = runs[kind] ?? []
      list.push(await replayRate(kind))
      runs[kind] = list
    }
  }
  const median = (values: number[]): number =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
  const results = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]))
  const peer = results.nchan
  console.log(`\n| replay over HTTP (events/s) | ${SERVERS.join(' | ')} |`)
  console.log(`|---|${SERVERS.map(() => '---').join('|')}|`)
  const cell = (v: number | undefined) =>
    v === undefined ? 'n/a' : peer === undefined ? fmt(v) : `${fmt(v)} (${(v / peer).toFixed(2)}x)`
  console.log(
    `| replay ${fmt(REPLAY_EVENTS)} events from the start, 1 subscriber | ${SERVERS.map((k) => cell(results[k])).join(' | ')} |`,
  )
  if (peer !== undefined) console.log('\n(x): ratio to nchan.')
  console.log(
    'Publish throughput and latency over HTTP: `npm run bench:publish` (wrk in its own process on the other core).',
  )
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
