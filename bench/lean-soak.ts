/**
 * `npm run bench:lean-soak`: connection churn against `herald serve` with its defaults (lean
 * streams, SQLite, here 1 s heartbeats), bounded in time, to show that nothing leaks. For
 * BENCH_SECONDS (60) it holds BENCH_STREAMS (2000) streams from 8 loopback source addresses
 * and every 100 ms closes BENCH_CHURN (50) random ones and opens new ones up to the target: one in five after a
 * `GET /healthz` on the same keep-alive connection (the node:http fallback), one in five
 * resuming with `Last-Event-ID` (replay), the rest plain; 20 events/s are published. Every
 * 5 s it samples the hub's RSS (/proc) and V8 heap (`herald_nodejs_heap_size_used_bytes` from
 * /metrics, as the hub's own GCs leave it), and the live heap after a full GC (a heap
 * snapshot) before the churn, at its end and once every stream closed. At the end the hub
 * must report 0 connections and 0 subscribers, and hold no more file descriptors than before the
 * first stream (exit 1 otherwise). Prints the curve as a Markdown table.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { HERALD_BIN } from '@herald/testkit'

const seconds = Number(process.env.BENCH_SECONDS ?? 60)
const target = Number(process.env.BENCH_STREAMS ?? 2000)
const churn = Number(process.env.BENCH_CHURN ?? 50)

const dir = mkdtempSync(join(tmpdir(), 'herald-soak-'))
const child = spawn(
  process.execPath,
  [
    // A heap snapshot runs a full GC first: the heap figure after one is the live heap.
    '--heapsnapshot-signal=SIGUSR2',
    HERALD_BIN,
    'serve',
    '--port',
    '0',
    '--store',
    `sqlite:${join(dir, 'herald.db')}`,
    '--heartbeat',
    '1',
    '--log-level',
    'warn',
  ],
  { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] },
)
const port = await new Promise<number>((resolve) => {
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
    const match = /listening on http:\/\/[^:]+:(\d+)/.exec(out)
    if (match !== null) resolve(Number(match[1]))
  })
})
const base = `http://127.0.0.1:${port}`
const pid = child.pid as number

/** The hub's open file descriptors: a connection whose handle was never closed stays here. */
function openFds(): number {
  return readdirSync(`/proc/${pid}/fd`).length
}
const fdsAtStart = openFds()

function rssMiB(): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(match?.[1] ?? 0) / 1024
}

/** The sum of a metric's series (a labelled gauge has one per topic). */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      sum += Number(line.split(' ').at(-1))
    }
  }
  return sum
}

/** The live V8 heap: a heap snapshot (full GC), then the heap-used gauge (MiB). */
async function liveHeapMiB(): Promise<number> {
  const before = new Set(readdirSync(dir))
  child.kill('SIGUSR2')
  for (let tries = 0; tries < 240; tries++) {
    await delay(500)
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f))
    if (file === undefined) continue
    try {
      JSON.parse(readFileSync(join(dir, file), 'utf8'))
      rmSync(join(dir, file))
      return (await metric('herald_nodejs_heap_size_used_bytes')) / 2 ** 20
    } catch {
      // Still being written.
    }
  }
  return Number.NaN
}

let opened = 0
let failed = 0
/** Refused stream requests by error code. */
const refusals = new Map<string, number>()
let lastId = ''
const open = new Set<Socket>()
/** Every client socket, streaming or still asking. */
const all = new Set<Socket>()

function openStream(kind: 'plain' | 'keep-alive' | 'resume'): void {
  const source = `127.0.0.${2 + (opened % 8)}`
  const socket = connect({ port, host: '127.0.0.1', localAddress: source })
  let text = ''
  let streamSent = false
  const streamRequest = `GET /events?topic=soak/${opened % 20} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n${kind === 'resume' && lastId !== '' ? `last-event-id: ${lastId}\r\n` : ''}\r\n`
  socket.setEncoding('latin1')
  socket.on('error', () => {})
  all.add(socket)
  socket.on('close', () => {
    open.delete(socket)
    all.delete(socket)
  })
  const onData = (chunk: string): void => {
    text += chunk
    if (!streamSent) {
      // The health check's answer arrived in full: the stream request on the same connection.
      if (!text.includes('"ok"')) return
      streamSent = true
      text = ''
      socket.write(streamRequest)
      return
    }
    if (!text.includes('\r\n\r\n')) return
    socket.off('data', onData)
    if (text.startsWith('HTTP/1.1 200')) {
      opened++
      open.add(socket)
      // Keep reading (heartbeats, events) so the hub never sees a slow consumer.
      socket.resume()
    } else {
      failed++
      // The refusal's status and error code, from its body once it is in (or just the status).
      const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? text.slice(9, 12)
      refusals.set(code, (refusals.get(code) ?? 0) + 1)
      socket.destroy()
    }
  }
  socket.on('data', onData)
  if (kind === 'keep-alive') socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n')
  else {
    streamSent = true
    socket.write(streamRequest)
  }
}

const kinds = ['plain', 'plain', 'plain', 'keep-alive', 'resume'] as const
let turn = 0
for (let i = 0; i < target; i++) openStream(kinds[turn++ % kinds.length] as (typeof kinds)[number])
while (open.size < target * 0.95) await delay(100)

const liveAtStart = await liveHeapMiB()
const samples: string[] = []
async function sample(t: number): Promise<void> {
  samples.push(
    `| ${t} | ${open.size} | ${opened} | ${failed} | ${rssMiB().toFixed(1)} | ${((await metric('herald_nodejs_heap_size_used_bytes')) / 2 ** 20).toFixed(1)} | ${await metric('herald_connections')} |`,
  )
}

let published = 0
const publisher = setInterval(() => {
  fetch(`${base}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: `soak/${published++ % 20}`, data: { n: published } }),
  })
    .then((r) => r.json() as Promise<{ id?: string }>)
    .then((answer) => {
      if (answer.id !== undefined) lastId = answer.id
    })
    .catch(() => {})
}, 50)

const started = performance.now()
let nextSample = 0
while (performance.now() - started < seconds * 1000) {
  const t = Math.floor((performance.now() - started) / 1000)
  if (t >= nextSample) {
    await sample(t)
    nextSample += 5
  }
  const victims = [...open].sort(() => Math.random() - 0.5).slice(0, churn)
  for (const socket of victims) socket.destroy()
  // Replace what closed, never more than `target` sockets at once (streaming or asking).
  const room = Math.min(2 * churn, target - all.size)
  for (let i = 0; i < room; i++) openStream(kinds[turn++ % kinds.length] as (typeof kinds)[number])
  await delay(100)
}
clearInterval(publisher)
await sample(seconds)
const liveAtEnd = await liveHeapMiB()
for (const socket of all) socket.destroy()
// The hub notices every close: wait for its gauges to reach 0 (bounded).
let connections = Number.NaN
let subscribers = Number.NaN
for (let i = 0; i < 100; i++) {
  connections = await metric('herald_connections')
  subscribers = await metric('herald_subscribers')
  if (connections === 0 && subscribers === 0) break
  await delay(100)
}
// Closed handles give their descriptors back within a turn or two of the session's close.
let fdsAfterClose = openFds()
for (let i = 0; i < 50 && fdsAfterClose > fdsAtStart; i++) {
  await delay(100)
  fdsAfterClose = openFds()
}
const liveAfterClose = await liveHeapMiB()
samples.push(
  `| after close | 0 | ${opened} | ${failed} | ${rssMiB().toFixed(1)} | ${((await metric('herald_nodejs_heap_size_used_bytes')) / 2 ** 20).toFixed(1)} | ${connections} |`,
)
child.kill('SIGTERM')
await new Promise((resolve) => child.once('exit', resolve))
rmSync(dir, { recursive: true, force: true })
console.log(
  `${seconds} s, ${target} streams held, ${churn} closed and opened every 100 ms (1 in 5 after a keep-alive GET /healthz, 1 in 5 resuming), ${published} events published`,
)
console.log('')
console.log(
  '| t (s) | open | streams opened so far | refused | hub RSS MiB | V8 heap used MiB | herald_connections |',
)
console.log('|---|---|---|---|---|---|---|')
for (const row of samples) console.log(row)
console.log('')
console.log(
  `after closing everything: herald_connections ${connections}, herald_subscribers ${subscribers}`,
)
console.log(
  `live V8 heap after a full GC: ${liveAtStart.toFixed(1)} MiB with ${target} streams before the churn, ${liveAtEnd.toFixed(1)} MiB at the end of it, ${liveAfterClose.toFixed(1)} MiB once every stream closed`,
)
console.log(`refused: ${[...refusals].map(([code, n]) => `${code} ${n}`).join(', ') || 'none'}`)
console.log(
  `hub file descriptors: ${fdsAtStart} before the first stream, ${fdsAfterClose} once every stream closed`,
)
if (connections !== 0 || subscribers !== 0 || fdsAfterClose > fdsAtStart) process.exitCode = 1
