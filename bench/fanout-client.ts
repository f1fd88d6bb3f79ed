/**
 * Fan-out load generator, JavaScript fallback of bench/fanout-loadgen.c (same arguments, same
 * line protocol on stdin/stdout; see that file). Used when no C compiler is present. Node's
 * per-read cost makes it saturate its core earlier than the C one.
 *
 *   tsx bench/fanout-client.ts PORT PATH COUNT FIRST_SOURCE PROBE_EVERY
 */
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import readline from 'node:readline'

const [portArg, path = '/sub', countArg, sourceArg = '2', probeArg = '20'] = process.argv.slice(2)
const port = Number(portArg)
const count = Number(countArg)
const firstSource = Number(sourceArg)
const probeEvery = Number(probeArg)
const SOURCES = 8 // 127.0.0.(first .. first+7)
const MARKER = Buffer.from('"t":')
// CLOCK_MONOTONIC in ms, the clock the publisher stamps payloads with.
const now = () => Number(process.hrtime.bigint()) / 1e6

let connected = 0
let failed = 0
let closedAfterOpen = 0
let delivered = 0
let latencies: number[] = []

function open(index: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({
      port,
      host: '127.0.0.1',
      localAddress: `127.0.0.${firstSource + (index % SOURCES)}`,
    })
    const probe = index % probeEvery === 0
    let headerDone = false
    let carry: Buffer = Buffer.alloc(0)
    let text = ''
    let settled = false
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`)
    })
    socket.on('data', (chunk: Buffer) => {
      if (!headerDone) {
        const all = carry.length === 0 ? chunk : Buffer.concat([carry, chunk])
        const end = all.indexOf('\r\n\r\n')
        if (end === -1) {
          carry = all
          return
        }
        headerDone = true
        carry = Buffer.alloc(0)
        if (!all.subarray(0, 12).toString('latin1').includes(' 200')) {
          failed++
          socket.destroy()
          if (!settled) {
            settled = true
            resolve()
          }
          return
        }
        connected++
        settled = true
        resolve()
        chunk = all.subarray(end + 4)
      }
      if (probe) {
        const arrived = now()
        text += chunk.toString('latin1')
        let at = text.indexOf('"t":')
        while (at !== -1) {
          const comma = text.indexOf(',', at)
          if (comma === -1) break
          delivered++
          latencies.push(arrived - Number(text.slice(at + 4, comma)))
          text = text.slice(comma)
          at = text.indexOf('"t":')
        }
        // Keep an unfinished marker or number for the next read.
        text = at === -1 ? text.slice(-3) : text.slice(at)
        return
      }
      // Count markers; a marker split across reads is caught by the 3-byte carry.
      let buffer = chunk
      if (carry.length > 0) buffer = Buffer.concat([carry, chunk])
      let at = buffer.indexOf(MARKER)
      while (at !== -1) {
        delivered++
        at = buffer.indexOf(MARKER, at + 4)
      }
      carry = buffer.length >= 3 ? buffer.subarray(buffer.length - 3) : buffer
      // Copy the tail so the whole chunk can be freed.
      carry = Buffer.from(carry)
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      if (headerDone) closedAfterOpen++
      else failed++
      if (!settled) {
        settled = true
        resolve()
      }
    })
  })
}

async function openAll(): Promise<void> {
  const concurrency = 200
  let next = 0
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const index = next++
      await open(index)
    }
  })
  await Promise.all(workers)
}

const say = (line: string) => process.stdout.write(`${line}\n`)

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'reset') {
    delivered = 0
    latencies = []
    say('reset')
  } else if (line === 'stats') {
    say(`stats ${delivered} ${connected} ${failed} ${closedAfterOpen}`)
  } else if (line.startsWith('lat ')) {
    writeFileSync(line.slice(4), Buffer.from(Float64Array.from(latencies).buffer))
    say(`lat ${latencies.length}`)
  } else if (line === 'exit') {
    process.exit(0)
  }
})
process.stdin.on('end', () => process.exit(0))

openAll().then(() => say(`open ${connected} ${failed}`))
