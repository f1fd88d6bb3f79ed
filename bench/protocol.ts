/**
 * `npm run bench:protocol`: Herald's parser and encoder side by side with their peers, in
 * one run. Prints throughput and the ratios; timings are noisy, ratios much less so.
 */
import os from 'node:os'
import { createParser, encodeEvent, encodeEventBytes } from '@herald/protocol'
import { createParser as createPeerParser } from 'eventsource-parser'
import { buildMixedStream, chunk } from './stream-fixture.js'

const MB = 1024 * 1024
const streamBytes = Number(process.env.BENCH_STREAM_MB ?? 32) * MB
const rounds = Number(process.env.BENCH_ROUNDS ?? 7)
const stream = buildMixedStream(streamBytes)
const chunks = chunk(stream, 64 * 1024)

let sink = 0
function consume(data: string, id: string | undefined): void {
  // Touch the values so neither parser gets credit for work it never finished.
  sink = (sink + data.length + (id === undefined ? 0 : id.length)) | 0
}

function runHerald(): number {
  let events = 0
  const parser = createParser({
    onEvent(event) {
      events++
      consume(event.data, event.lastEventId)
    },
  })
  for (const c of chunks) parser.feed(c)
  parser.end()
  return events
}

function runPeer(): number {
  let events = 0
  // eventsource-parser takes strings: decode as its own docs show (TextDecoder, streaming).
  const decoder = new TextDecoder()
  const parser = createPeerParser({
    onEvent(event) {
      events++
      consume(event.data, event.id)
    },
  })
  for (const c of chunks) parser.feed(decoder.decode(c, { stream: true }))
  parser.reset()
  return events
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

// Warm both up, then alternate rounds so that machine noise hits both alike.
for (let i = 0; i < 2; i++) {
  runHerald()
  runPeer()
}
const heraldMs: number[] = []
const peerMs: number[] = []
let heraldEvents = 0
let peerEvents = 0
for (let i = 0; i < rounds; i++) {
  const h = time(runHerald)
  const p = time(runPeer)
  heraldMs.push(h.ms)
  peerMs.push(p.ms)
  heraldEvents = h.events
  peerEvents = p.events
}
if (heraldEvents !== peerEvents) {
  throw new Error(`parsers disagree: herald ${heraldEvents} events, peer ${peerEvents}`)
}
const mbps = (ms: number): number => stream.length / MB / (ms / 1000)
const heraldRate = mbps(median(heraldMs))
const peerRate = mbps(median(peerMs))

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
console.log(
  `stream: ${fmt(stream.length / MB)} MiB, ${heraldEvents} events, 64 KiB chunks, median of ${rounds}`,
)
console.log('')
console.log('| parser | MB/s | ratio |')
console.log('|---|---|---|')
console.log(
  `| @herald/protocol createParser (bytes) | ${fmt(heraldRate)} | ${(heraldRate / peerRate).toFixed(2)}x |`,
)
console.log(`| eventsource-parser + TextDecoder | ${fmt(peerRate)} | 1.00x |`)
console.log('')
console.log(`| encoding for ${subscribers} subscribers x ${events.length} events | ms | ratio |`)
console.log('|---|---|---|')
console.log(
  `| encodeEventBytes once, shared | ${fmt(median(sharedMs))} | ${(median(perSubMs) / median(sharedMs)).toFixed(1)}x faster |`,
)
console.log(`| string concatenation + encode per subscriber | ${fmt(median(perSubMs))} | 1.0x |`)
console.log('')
console.log(`encodeEvent: ${singleNs.toFixed(0)} ns per frame (${frames > 0 ? 'ok' : ''})`)
if (sink === 42) console.log('')
