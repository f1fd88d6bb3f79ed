/**
 * `npm run bench:fanout-memory`: memory per idle stream, measured after forced garbage
 * collections, for a bare `net` socket, a bare `node:http` response held open, Herald on
 * `node:http` (`handleNode`) and Herald's lean connection path (`createConnectionHandler`).
 * Each variant runs in its own Node process (`--expose-gc`) against BENCH_CONNECTIONS (10 000)
 * connections held by the C load generator of bench:fanout (built on first use).
 *
 *   tsx bench/fanout-memory.ts            all variants, one table
 *   tsx bench/fanout-memory.ts VARIANT    one variant (used by the above)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import readline from 'node:readline'
import { createStreamServer } from '@herald/server'

const variants = ['net', 'node:http', 'herald', 'herald-lean'] as const
type Variant = (typeof variants)[number]
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10_000)
const root = new URL('..', import.meta.url).pathname
const loadgen = join(root, '.bench-tmp/fanout-loadgen')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function measure(variant: Variant): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc')
  const head = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n')
  const held: unknown[] = []
  let server: net.Server
  if (variant === 'net') {
    server = net.createServer((socket) => {
      socket.once('data', () => socket.write(head))
    })
  } else if (variant === 'node:http') {
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.flushHeaders()
      held.push(res)
    })
  } else {
    const streams = createStreamServer({ heartbeatMs: 15_000 })
    const app = http.createServer((req, res) => {
      streams.handleNode(req, res)
    })
    server =
      variant === 'herald'
        ? app
        : net.createServer(streams.createConnectionHandler({ fallback: app }))
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const collect = async () => {
    gc()
    gc()
    await sleep(200)
    return process.memoryUsage()
  }
  const before = await collect()
  const clients = spawn(loadgen, [String(port), '/events', String(connections), '2', '0'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const opened = await new Promise<string>((resolve) => {
    if (clients.stdout === null) throw new Error('no stdout')
    readline.createInterface({ input: clients.stdout }).once('line', resolve)
  })
  const open = Number(opened.split(' ')[1])
  await sleep(500)
  const after = await collect()
  process.stdout.write(
    `${JSON.stringify({
      variant,
      open,
      heap: (after.heapUsed - before.heapUsed) / open,
      rss: (after.rss - before.rss) / open,
    })}\n`,
  )
  clients.kill()
  process.exit(0)
}

const only = process.argv[2] as Variant | undefined
if (only !== undefined) {
  await measure(only)
} else {
  execFileSync('cc', ['-O2', '-o', loadgen, join(root, 'bench/fanout-loadgen.c')])
  const rows: string[] = []
  for (const variant of variants) {
    const run = spawnSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', new URL(import.meta.url).pathname, variant],
      { encoding: 'utf8', cwd: root },
    )
    const line = run.stdout.trim().split('\n').at(-1) ?? '{}'
    const r = JSON.parse(line) as { open: number; heap: number; rss: number }
    rows.push(
      `| ${variant} | ${r.open} | ${(r.heap / 1024).toFixed(2)} | ${(r.rss / 1024).toFixed(2)} |`,
    )
  }
  process.stdout.write(
    `| variant | connections | V8 heap KiB per connection | RSS KiB per connection |\n|---|---|---|---|\n${rows.join('\n')}\n`,
  )
}
