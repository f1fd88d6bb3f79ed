/**
 * `npm run bench:client`: how much the client's resilience layer costs over a bare
 * fetch-and-parse loop. A child process streams the same events to every client in turn;
 * the clients run alternately, several rounds, and the medians are compared as ratios.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import os from 'node:os'
import { EventSource, subscribe } from '@herald/client'
import { createParser } from '@herald/protocol'
import { createParser as createPeerParser } from 'eventsource-parser'

const count = Number(process.env.BENCH_EVENTS ?? 200_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)

// The server runs in its own process so that it does not compete with the client for the
// event loop. It encodes the whole stream once and writes it in 64 KiB chunks.
const serverSource = `
import { createServer } from 'node:http'
const count = ${count}
const parts = []
for (let i = 1; i <= count; i++) {
  parts.push('id: ' + i + '\\nevent: update\\ndata: {"seq":' + i + ',"symbol":"HRLD","price":' + (i % 1000) / 10 + ',"note":"a short note to pad the event"}\\n\\n')
}
parts.push('event: done\\ndata: end\\n\\n')
const body = Buffer.from(parts.join(''))
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
  let offset = 0
  const pump = () => {
    while (offset < body.length) {
      const end = Math.min(offset + 65536, body.length)
      const ok = res.write(body.subarray(offset, end))
      offset = end
      if (!ok) return res.once('drain', pump)
    }
    res.end()
  }
  pump()
})
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port, bytes: body.length }) + '\\n'))
`

let sink = 0
const touch = (data: string) => {
  sink = (sink + data.length) | 0
}

type Client = (url: string) => Promise<number>

const clients: [string, Client][] = [
  [
    'fetch + eventsource-parser (bare loop, baseline)',
    async (url) => {
      let events = 0
      const parser = createPeerParser({
        onEvent(event) {
          if (event.event === 'update') events++
          touch(event.data)
        },
      })
      const response = await fetch(url)
      const decoder = new TextDecoder()
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }))
      }
      return events
    },
  ],
  [
    'fetch + @herald/protocol (bare loop)',
    async (url) => {
      let events = 0
      const parser = createParser({
        onEvent(event) {
          if (event.type === 'update') events++
          touch(event.data)
        },
      })
      const response = await fetch(url)
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) parser.feed(chunk)
      return events
    },
  ],
  [
    '@herald/client EventSource',
    (url) =>
      new Promise((resolve) => {
        let events = 0
        const source = new EventSource(url)
        source.addEventListener('update', (event) => {
          events++
          touch(event.data)
        })
        source.addEventListener('done', () => {
          source.close()
          resolve(events)
        })
      }),
  ],
  [
    '@herald/client subscribe()',
    async (url) => {
      let events = 0
      for await (const event of subscribe(url)) {
        if (event.type === 'done') break
        events++
        touch(event.data)
      }
      return events
    },
  ],
]

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

async function startServer(): Promise<{ child: ChildProcess; url: string; bytes: number }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', serverSource], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (data: Buffer) => resolve(data.toString()))
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })
  const { port, bytes } = JSON.parse(line) as { port: number; bytes: number }
  return { child, url: `http://127.0.0.1:${port}/`, bytes }
}

const { child, url, bytes } = await startServer()
try {
  const times = clients.map(() => [] as number[])
  for (let round = -1; round < rounds; round++) {
    for (const [index, [name, client]] of clients.entries()) {
      const start = process.hrtime.bigint()
      const events = await client(url)
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (events !== count) throw new Error(`${name}: ${events} events, expected ${count}`)
      // Round -1 warms the JIT up and is not counted.
      if (round >= 0) times[index]?.push(ms)
    }
  }
  const baseline = median(times[0] ?? [])
  console.log(
    `${count} events (${(bytes / 1024 / 1024).toFixed(1)} MiB) per run, median of ${rounds} rounds; ` +
      `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`,
  )
  console.log('| client | events/s | time vs baseline |')
  console.log('|---|---|---|')
  for (const [index, [name]] of clients.entries()) {
    const ms = median(times[index] ?? [])
    const rate = Math.round(count / (ms / 1000))
    console.log(`| ${name} | ${rate.toLocaleString('en-US')} | ${(ms / baseline).toFixed(2)}x |`)
  }
} finally {
  child.kill()
}
if (sink === 42) console.log('')
