/**
 * The dashboard at 15 000 connections: starts `herald serve` (an admin token; memory store,
 * or with `--workers N` a SQLite file in a temporary directory), opens N idle event streams
 * from this process (raw sockets, source addresses spread over 127.0.0.2-127.0.0.9), then
 * times what the dashboard asks the hub for: a page of the clients table (first page, a deep
 * page, a search), and one stats snapshot. With workers, the clients pages span every worker
 * (through the cluster primary). Reports medians of 25 requests and the load average; nothing
 * is asserted. Each listed worker count runs in turn, in one run (the streams of one hub are
 * closed before the next starts: 2 x 15 000 sockets would pass this process's `ulimit -n`).
 *   npm run bench:dashboard [-- N [WORKERS,...]]     (default 15000 1,2)
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, waitForPort } from './ports.js'

const N = Number(process.argv[2] ?? 15_000)
const WORKERS = (process.argv[3] ?? '1,2').split(',').map(Number)
const ADMIN = 'bench-admin-token-0123456789'
const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))

for (const workers of WORKERS) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-dashboard-'))
  const port = await freePort()
  const hub = spawn(
    process.execPath,
    [
      bin,
      'serve',
      '--port',
      String(port),
      '--store',
      workers > 1 ? `sqlite:${join(dir, 'herald.db')}` : 'memory',
      '--workers',
      String(workers),
      '--log-level',
      'warn',
      '--admin-token',
      ADMIN,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  await waitForPort(port, 60_000)
  // The primary listens before its workers do: wait for the whole cluster.
  for (let ready = false; !ready; ) {
    const body = await fetch(`http://127.0.0.1:${port}/dashboard/api/clients?limit=1`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    })
      .then((r) => r.json() as Promise<{ nodes?: unknown[] }>)
      .catch(() => ({}) as { nodes?: unknown[] })
    ready = workers === 1 || (body.nodes?.length ?? 0) === workers
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  console.log(`\n--workers ${workers}${workers > 1 ? ' (SQLite)' : ' (memory)'}`)

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
  // The kernel hands connections to the workers as they come: say how they were spread.
  {
    const page = (await (
      await fetch(`http://127.0.0.1:${port}/dashboard/api/clients?limit=1`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      })
    ).json()) as { total: number; nodes?: Array<{ node: string; total: number }> }
    console.log(
      `clients seen by the dashboard: ${page.total}${page.nodes === undefined ? '' : ` (${page.nodes.map((n) => `${n.node}: ${n.total}`).join(', ')})`}`,
    )
  }

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
      `${label.padEnd(34)} median ${(times[12] as number).toFixed(1)} ms, p90 ${(times[22] as number).toFixed(1)} ms (${bytes} B), load ${loadavg()[0]?.toFixed(1)}`,
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
  rmSync(dir, { recursive: true, force: true })
}
