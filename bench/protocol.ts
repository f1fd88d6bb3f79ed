/**
 * `npm run bench:protocol`: Herald's parser and encoder side by side with their peers, in
 * one run. Prints throughput and the ratios; timings are noisy, ratios much less so.
 *
 * Each stream shape runs in a fresh child process: V8's type feedback from one shape (one-byte
 * versus two-byte strings) would otherwise skew the next, for both parsers alike.
 */
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { createParser, encodeEvent, encodeEventBytes } from '@herald/protocol'
import { createParser as createPeerParser } from 'eventsource-parser'
import { buildMixedStream, chunk, type FixtureText } from './stream-fixture.js'

const MB = 1024 * 1024
const streamBytes = Number(process.env.BENCH_STREAM_MB ?? 32) * MB
const rounds = Number(process.env.BENCH_ROUNDS ?? 7)

let sink = 0
function consume(data: string, id: string | undefined): void {
  // Touch the values so neither parser gets credit for work it never finished.
  sink = (sink + data.length + (id === undefined ? 0 : id.length)) | 0
}

/**
 * CPU time (user + system, all threads: GC helpers included) rather than wall time: on a
 * shared machine, time spent waiting for a core says nothing about either parser.
 */
function time(fn: () => number): { ms: number; events: number } {
  const start = process.cpuUsage()
  const events = fn()
  const used = process.cpuUsage(start)
  return { ms: (used.user + used.system) / 1000, events }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

/** Runs both sides alternately (so machine noise hits both alike); medians in ms. */
function compare(
  herald: () => number,
  peer: () => number,
): { herald: number; peer: number; events: number } {
  for (let i = 0; i < 2; i++) {
    herald()
    peer()
  }
  const h: number[] = []
  const p: number[] = []
  let events = 0
  for (let i = 0; i < rounds; i++) {
    const a = time(herald)
    const b = time(peer)
    if (a.events !== b.events)
      throw new Error(`parsers disagree: ${a.events} vs ${b.events} events`)
    events = a.events
    h.push(a.ms)
    p.push(b.ms)
  }
  return { herald: median(h), peer: median(p), events }
}

function heraldOn(input: (Uint8Array | string)[]): () => number {
  return () => {
    let events = 0
    const parser = createParser({
      onEvent(event) {
        events++
        consume(event.data, event.lastEventId)
      },
    })
    for (const c of input) parser.feed(c)
    parser.end()
    return events
  }
}

/** eventsource-parser takes strings: bytes go through a streaming TextDecoder, as its docs show. */
function peerOn(input: (Uint8Array | string)[]): () => number {
  return () => {
    let events = 0
    const utf8 = new TextDecoder()
    const parser = createPeerParser({
      onEvent(event) {
        events++
        consume(event.data, event.id)
      },
    })
    for (const c of input) parser.feed(typeof c === 'string' ? c : utf8.decode(c, { stream: true }))
    parser.reset()
    return events
  }
}

/** Child: one stream shape, one input shape; prints one JSON line. */
function runCase(text: FixtureText, input: 'bytes' | 'strings', chunkSize: number): void {
  const stream = buildMixedStream(streamBytes, 42, text)
  const chunks = chunk(stream, chunkSize)
  const decoder = new TextDecoder()
  const feed = input === 'bytes' ? chunks : chunks.map((c) => decoder.decode(c, { stream: true }))
  const result = compare(heraldOn(feed), peerOn(feed))
  const mbps = (ms: number): number => stream.length / MB / (ms / 1000)
  console.log(
    JSON.stringify({
      mib: stream.length / MB,
      events: result.events,
      herald: mbps(result.herald),
      peer: mbps(result.peer),
      ratio: result.peer / result.herald,
    }),
  )
}

/** Child: encoding for fan-out, one frame shared by N subscribers versus one per subscriber. */
function runEncoding(): void {
  const subscribers = 1000
  const events = Array.from({ length: 200 }, (_, i) => ({
    id: String(i),
    event: 'update',
    data: JSON.stringify({ i, text: 'héllo wörld', items: [1, 2, 3] }),
  }))
  const utf8 = new TextEncoder()
  const shared = (): number => {
    let bytes = 0
    for (const e of events) {
      const frame = encodeEventBytes(e)
      for (let s = 0; s < subscribers; s++) bytes += frame.length
    }
    return bytes
  }
  const perSubscriber = (): number => {
    let bytes = 0
    for (const e of events) {
      for (let s = 0; s < subscribers; s++) {
        bytes += utf8.encode(`id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`).length
      }
    }
    return bytes
  }
  if (shared() !== perSubscriber()) throw new Error('encoders disagree on size')
  const sharedMs: number[] = []
  const perSubMs: number[] = []
  for (let i = 0; i < rounds; i++) {
    sharedMs.push(time(shared).ms)
    perSubMs.push(time(perSubscriber).ms)
  }
  let bytes = 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < 200_000; i++) bytes += encodeEvent(events[i % events.length] as never).length
  const frameNs = Number(process.hrtime.bigint() - start) / 200_000
  console.log(
    JSON.stringify({
      subscribers,
      events: events.length,
      shared: median(sharedMs),
      perSubscriber: median(perSubMs),
      frameNs,
      bytes,
    }),
  )
}

function child(args: string[]): Record<string, number> {
  const script = fileURLToPath(import.meta.url)
  const run = spawnSync(process.execPath, [...process.execArgv, script, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  if (run.status !== 0) throw new Error(`benchmark child ${args.join(' ')} failed`)
  const line = run.stdout.trim().split('\n').at(-1) ?? '{}'
  return JSON.parse(line) as Record<string, number>
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === '--case') {
  runCase(rest[0] as FixtureText, rest[1] as 'bytes' | 'strings', Number(rest[2]))
} else if (mode === '--encoding') {
  runEncoding()
} else {
  const cases: [FixtureText, 'bytes' | 'strings', number, string][] = [
    ['unicode', 'bytes', 65536, 'unicode, bytes in (UTF-8 decode included)'],
    ['unicode', 'strings', 65536, 'unicode, strings in (parsing alone)'],
    ['unicode', 'bytes', 4096, 'unicode, bytes in, 4096 B chunks'],
    ['unicode', 'bytes', 512, 'unicode, bytes in, 512 B chunks'],
    ['ascii', 'bytes', 65536, 'ascii, bytes in (UTF-8 decode included)'],
    ['ascii', 'strings', 65536, 'ascii, strings in (parsing alone)'],
  ]
  console.log(
    `machine: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, node ${process.version}`,
  )
  console.log('')
  const rows: string[] = []
  let header = ''
  for (const [text, input, size, label] of cases) {
    const r = child(['--case', text, input, String(size)])
    if (header === '') {
      header = `stream: ${r.mib?.toFixed(1)} MiB, ${r.events} events, 64 KiB chunks unless stated, CPU time, median of ${rounds} alternating rounds, one process per row`
    }
    rows.push(
      `| ${label} | ${r.herald?.toFixed(0)} | ${r.peer?.toFixed(0)} | **${r.ratio?.toFixed(2)}x** |`,
    )
  }
  console.log(header)
  console.log('')
  console.log('| stream | Herald MB/s | eventsource-parser MB/s | Herald / peer |')
  console.log('|---|---|---|---|')
  for (const row of rows) console.log(row)
  const e = child(['--encoding'])
  const fmt = (n: number | undefined): string => (n ?? 0).toFixed(1)
  console.log('')
  console.log(`| encoding for ${e.subscribers} subscribers x ${e.events} events | ms | ratio |`)
  console.log('|---|---|---|')
  console.log(
    `| encodeEventBytes once, shared | ${fmt(e.shared)} | **${((e.perSubscriber ?? 0) / (e.shared ?? 1)).toFixed(0)}x faster** |`,
  )
  console.log(`| string concatenation + encode per subscriber | ${fmt(e.perSubscriber)} | 1x |`)
  console.log('')
  console.log(`encodeEvent alone: ${(e.frameNs ?? 0).toFixed(0)} ns per frame`)
}
if (sink === 42) console.log('')
