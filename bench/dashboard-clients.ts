/**
 * The dashboard at 15 000 connections: starts `herald serve` (memory store, an admin token),
 * opens N idle event streams from this process (raw sockets, source addresses spread over
 * 127.0.0.2-127.0.0.9), then times what the dashboard asks the hub for: a page of the clients
 * table (first page, a deep page, a search), and one stats sample (the once-a-second tick,
 * including the topic rankings). Reports medians of 25 requests; nothing is asserted.
 *   npm run bench:dashboard [-- N]     (default 15000)
 */
import { spawn } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { freePort, waitForPort } from './ports.js'

const N = Number(process.argv[2] ?? 15_000)
const ADMIN = 'bench-admin-token-0123456789'
const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const port = await freePort()
const hub = spawn(
  process.execPath,
  [
    bin,
    'serve',
    '--port',
    String(port),
    '--store',
    'memory',
    '--log-level',
    'warn',
    '--admin-token',
    ADMIN,
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
)
await waitForPort(port)

const sockets: net.Socket[] = []
const topics = ['orders/*', 'prices/ACME', 'chat/general', 'users/1', 'users/2', 'news/**']
let open = 0
const started = performance.now()
await new Promise<void>((resolve, reject) => {
  let next = 0
  const more = (): void => {
    // At most 500 connects in flight.
    while (next < N && next - open < 500) {
      const i = next++
      const socket = net.connect({
        port,
        host: '127.0.0.1',
        localAddress: `127.0.0.${2 + (i % 8)}`,
      })
      socket.setNoDelay(true)
      let seen = false
      socket.on('data', () => {
        if (seen) return
        seen = true
        open++
        if (open === N) resolve()
        else more()
      })
      socket.on('error', reject)
      socket.write(
        `GET /events?topic=${encodeURIComponent(topics[i % topics.length] as string)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
      )
      sockets.push(socket)
    }
  }
  more()
})
console.log(`${N} streams open in ${((performance.now() - started) / 1000).toFixed(1)} s`)

async function median(label: string, path: string): Promise<void> {
  const times: number[] = []
  let bytes = 0
  for (let i = 0; i < 25; i++) {
    const t = performance.now()
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    })
    bytes = (await response.arrayBuffer()).byteLength
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  console.log(
    `${label.padEnd(34)} median ${(times[12] as number).toFixed(1)} ms, p90 ${(times[22] as number).toFixed(1)} ms (${bytes} B)`,
  )
}

await median('healthz (do-nothing baseline)', '/healthz')
await median('clients, first page (50)', '/dashboard/api/clients?limit=50')
await median('clients, page at offset 14000', '/dashboard/api/clients?limit=50&offset=14000')
await median('clients, search "127.0.0.5"', '/dashboard/api/clients?q=127.0.0.5&limit=50')
await median('clients, search "users/2", deep', '/dashboard/api/clients?q=users/2&offset=2000')

// One stats sample as an admin sees it: read the stream until the first `sample`.
{
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const controller = new AbortController()
    const t = performance.now()
    const response = await fetch(`http://127.0.0.1:${port}/dashboard/api/stats`, {
      headers: { authorization: `Bearer ${ADMIN}` },
      signal: controller.signal,
    })
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    while (!text.includes('event: snapshot'))
      text += new TextDecoder().decode((await reader.read()).value)
    times.push(performance.now() - t)
    controller.abort()
  }
  times.sort((a, b) => a - b)
  console.log(
    `${'stats snapshot (10 min of history)'.padEnd(34)} median ${(times[2] as number).toFixed(1)} ms`,
  )
}

for (const socket of sockets) socket.destroy()
hub.kill('SIGTERM')
await new Promise((resolve) => hub.once('exit', resolve))
