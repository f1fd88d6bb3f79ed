/**
 * `npm run bench:protocol`: Herald's parser and encoder side by side with their peers, in
 * one run. Prints throughput and the ratios; timings are noisy, ratios much less so.
 */
import os from 'node:os'
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

function time(fn: () => number): { ms: number; events: number } {
  const start = process.hrtime.bigint()
  const events = fn()
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, events }
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

const parserRows: string[] = []
for (const text of ['unicode', 'ascii'] as FixtureText[]) {
  const stream = buildMixedStream(streamBytes, 42, text)
  const chunks = chunk(stream, 64 * 1024)
  const decoder = new TextDecoder()
  const decoded = chunks.map((c) => decoder.decode(c, { stream: true }))

  const heraldOn = (input: (Uint8Array | string)[]) => (): number => {
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
  /** eventsource-parser takes strings: bytes go through a streaming TextDecoder, as its docs show. */
  const peerOn = (input: (Uint8Array | string)[]) => (): number => {
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
  const mbps = (ms: number): string => (stream.length / MB / (ms / 1000)).toFixed(0)
  const bytes = compare(heraldOn(chunks), peerOn(chunks))
  const strings = compare(heraldOn(decoded), peerOn(decoded))
  parserRows.push(
    `| ${text}, bytes in (UTF-8 decode included) | ${mbps(bytes.herald)} | ${mbps(bytes.peer)} | **${(bytes.peer / bytes.herald).toFixed(2)}x** |`,
    `| ${text}, strings in (parsing alone) | ${mbps(strings.herald)} | ${mbps(strings.peer)} | **${(strings.peer / strings.herald).toFixed(2)}x** |`,
  )
  if (text === 'unicode') {
    // Network reads are often far smaller than 64 KiB (a token stream is one event per read):
    // per-chunk overhead matters there.
    for (const size of [4096, 512]) {
      const small = chunk(stream, size)
      const smallRun = compare(heraldOn(small), peerOn(small))
      parserRows.push(
        `| ${text}, bytes in, ${size} B chunks | ${mbps(smallRun.herald)} | ${mbps(smallRun.peer)} | **${(smallRun.peer / smallRun.herald).toFixed(2)}x** |`,
      )
    }
    parserRows.unshift(
      `stream: ${(stream.length / MB).toFixed(1)} MiB, ${bytes.events} events, 64 KiB chunks, median of ${rounds} alternating rounds`,
      '',
      '| stream | Herald MB/s | eventsource-parser MB/s | Herald / peer |',
      '|---|---|---|---|',
    )
  }
}

// Encoding for fan-out: one frame shared by N subscribers, versus building the frame by
// string concatenation and encoding it for every subscriber.
const subscribers = 1000
const events = Array.from({ length: 200 }, (_, i) => ({
  id: String(i),
  event: 'update',
  data: JSON.stringify({ i, text: 'héllo wörld', items: [1, 2, 3] }),
}))
const utf8 = new TextEncoder()
function encodeShared(): number {
  let bytes = 0
  for (const e of events) {
    const frame = encodeEventBytes(e)
    for (let s = 0; s < subscribers; s++) bytes += frame.length
  }
  return bytes
}
function encodePerSubscriber(): number {
  let bytes = 0
  for (const e of events) {
    for (let s = 0; s < subscribers; s++) {
      const frame = utf8.encode(`id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`)
      bytes += frame.length
    }
  }
  return bytes
}
if (encodeShared() !== encodePerSubscriber()) throw new Error('encoders disagree on size')
const sharedMs: number[] = []
const perSubMs: number[] = []
for (let i = 0; i < rounds; i++) {
  sharedMs.push(time(encodeShared).ms)
  perSubMs.push(time(encodePerSubscriber).ms)
}
// Single-frame encoding cost, for reference.
const singleStart = process.hrtime.bigint()
let frames = 0
for (let i = 0; i < 200_000; i++) frames += encodeEvent(events[i % events.length] as never).length
const singleNs = Number(process.hrtime.bigint() - singleStart) / 200_000

const fmt = (n: number): string => n.toFixed(1)
console.log(
  `machine: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, node ${process.version}`,
)
console.log('')
for (const row of parserRows) console.log(row)
console.log('')
console.log(`| encoding for ${subscribers} subscribers x ${events.length} events | ms | ratio |`)
console.log('|---|---|---|')
console.log(
  `| encodeEventBytes once, shared | ${fmt(median(sharedMs))} | **${(median(perSubMs) / median(sharedMs)).toFixed(0)}x faster** |`,
)
console.log(`| string concatenation + encode per subscriber | ${fmt(median(perSubMs))} | 1x |`)
console.log('')
console.log(`encodeEvent alone: ${singleNs.toFixed(0)} ns per frame (${frames} bytes)`)
if (sink === 42) console.log('')
