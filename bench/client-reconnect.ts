/**
 * `npm run bench:client-reconnect`: a reconnection storm. N clients hold a stream; the
 * server drops every connection at once; the server then times each reconnection. Run
 * side by side: the fixed reconnection delay of the native EventSource, `eventsource` and
 * `@microsoft/fetch-event-source` (emulated with Herald's client: no jitter, a `retry:`
 * floor of 1 s), against Herald's default backoff (full jitter over 1 s). Reports the
 * busiest 50 ms and when the last client was back.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { setMaxListeners } from 'node:events'
import os from 'node:os'
import { subscribe } from '@herald/client'

const clients = Number(process.env.BENCH_CLIENTS ?? 1000)
const WINDOW_MS = 50

// The server runs in its own process, so the clients' work does not delay its clock.
// Commands on stdin: "drop" destroys every stream and starts timing reconnections; it
// prints one JSON line when `clients` reconnections have arrived.
const serverSource = `
import { createServer } from 'node:http'
const clients = ${clients}
const open = new Set()
let droppedAt = 0
let arrivals = []
const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
  const retry = new URL(req.url, 'http://x').searchParams.get('retry')
  res.write((retry ? 'retry: ' + retry + '\\n' : '') + ': hi\\n\\n')
  open.add(res)
  res.on('close', () => open.delete(res))
  if (droppedAt > 0) {
    arrivals.push(performance.now() - droppedAt)
    if (arrivals.length === clients) {
      process.stdout.write(JSON.stringify({ arrivals }) + '\\n')
      droppedAt = 0
      arrivals = []
    }
  } else if (open.size === clients) {
    process.stdout.write(JSON.stringify({ ready: true }) + '\\n')
  }
})
process.stdin.on('data', () => {
  droppedAt = performance.now()
  for (const res of open) res.socket.destroy()
})
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'))
`

interface Line {
  port?: number
  ready?: boolean
  arrivals?: number[]
}

function lines(child: ChildProcess): { next(): Promise<{ value: Line }> } {
  const queue: Line[] = []
  let wake: (() => void) | undefined
  let buffer = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk
    let newline = buffer.indexOf('\n')
    while (newline !== -1) {
      queue.push(JSON.parse(buffer.slice(0, newline)) as Line)
      buffer = buffer.slice(newline + 1)
      newline = buffer.indexOf('\n')
    }
    wake?.()
  })
  return {
    async next() {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve))
      return { value: queue.shift() as Line }
    },
  }
}

async function storm(name: string, query: string, backoff: { initialMs: number; maxMs: number }) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', serverSource], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const out = lines(child)
  const { port } = (await out.next()).value
  const stop = new AbortController()
  // One signal ends every client: not a leak.
  setMaxListeners(clients + 1, stop.signal)
  for (let i = 0; i < clients; i++) {
    const subscription = subscribe(`http://127.0.0.1:${port}/events${query}`, {
      signal: stop.signal,
      backoff,
    })
    void subscription.next()
  }
  await out.next() // ready
  child.stdin?.write('drop\n')
  const arrivals = ((await out.next()).value.arrivals ?? []).sort((a, b) => a - b)
  stop.abort()
  child.kill()
  let peak = 0
  for (let start = 0, end = 0; end < arrivals.length; end++) {
    while ((arrivals[end] as number) - (arrivals[start] as number) >= WINDOW_MS) start++
    peak = Math.max(peak, end - start + 1)
  }
  const at = (q: number) => arrivals[Math.min(arrivals.length - 1, Math.floor(q * arrivals.length))]
  return { name, peak, median: at(0.5) ?? 0, last: arrivals.at(-1) ?? 0 }
}

const rows = [
  await storm(
    'fixed 1 s delay (native EventSource, eventsource, fetch-event-source)',
    '?retry=1000',
    {
      initialMs: 0,
      maxMs: 0,
    },
  ),
  await storm('Herald default backoff (full jitter, initialMs 1000)', '', {
    initialMs: 1000,
    maxMs: 30_000,
  }),
]
console.log(
  `${clients} clients dropped at once; ${os.cpus()[0]?.model ?? 'unknown CPU'}, ` +
    `${os.cpus().length} cores, Node ${process.version}`,
)
console.log(
  `| reconnection policy | busiest ${WINDOW_MS} ms | median back after | last back after |`,
)
console.log('|---|---|---|---|')
for (const row of rows) {
  console.log(
    `| ${row.name} | ${row.peak} clients | ${Math.round(row.median)} ms | ${Math.round(row.last)} ms |`,
  )
}
const [fixed, jitter] = rows
if (fixed && jitter) {
  console.log(`\nbusiest window: fixed / jitter = ${(fixed.peak / jitter.peak).toFixed(1)}x`)
}
