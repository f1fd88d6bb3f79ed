/**
 * What one idle subscriber holds in the hub's V8 heap: starts `herald serve` (the default
 * flags, memory store, heartbeats on) with `--heapsnapshot-signal`, takes a heap snapshot
 * before and after opening N idle streams from this process, and prints the heap growth per
 * stream by constructor (objects and self bytes), biggest first.
 * `npm run bench:hub-heap -- [N] [extra herald serve flags...]`. Linux only. BENCH_AUTH=1 turns
 * authorization on (`--jwt-secret`, `--query-token`): every stream presents a subscriber token
 * in its query string, as the idle-streams benchmark's `herald-auth` does. BENCH_AUTH=each: a
 * token of its own per stream (its own subject), as users with their own tokens present.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { mintToken } from '@herald/hub'
import { HERALD_BIN } from '@herald/testkit'

const count = Number(process.argv[2] ?? 2000)
const SECRET = 'hub-heap-bench-secret-0123456789abcdef'
const authMode = process.env.BENCH_AUTH
const auth = authMode === '1' || authMode === 'each'
const extra = [...process.argv.slice(3), ...(auth ? ['--jwt-secret', SECRET, '--query-token'] : [])]
let tokens = 0
/** The query part with the stream's token: one for all, or (BENCH_AUTH=each) its own. */
async function tokenQuery(): Promise<string> {
  if (!auth) return ''
  const subject = authMode === 'each' ? `bench-${++tokens}` : undefined
  return `&authorization=${await mintToken({ secret: SECRET, subscribe: ['bench/*'], ttlSeconds: 86_400, subject })}`
}
const shared = authMode === '1' ? await tokenQuery() : undefined

async function openStream(port: number, topic: string, source: string): Promise<Socket> {
  const query = shared ?? (await tokenQuery())
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: source })
    let head = ''
    socket.setEncoding('latin1')
    socket.on('error', reject)
    const onData = (chunk: string): void => {
      head += chunk
      if (!head.includes('\r\n\r\n')) return
      socket.off('data', onData)
      if (!head.startsWith('HTTP/1.1 200')) reject(new Error(head.slice(0, 200)))
      else resolve(socket)
    }
    socket.on('data', onData)
    socket.write(
      `GET /events?topic=${topic}${query} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\naccept: text/event-stream\r\nuser-agent: bench\r\n\r\n`,
    )
  })
}

async function openMany(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = []
  for (let i = 0; i < n; i += 200) {
    const batch = Math.min(200, n - i)
    sockets.push(
      ...(await Promise.all(
        Array.from({ length: batch }, (_, j) =>
          openStream(port, `bench/${(i + j) % 50}`, `127.0.0.${2 + ((i + j) % 8)}`),
        ),
      )),
    )
  }
  return sockets
}

interface Totals {
  count: number
  bytes: number
}

/** Self size and count per "type:name" (strings folded into one row per type). */
function summarize(path: string): Map<string, Totals> {
  const snapshot = JSON.parse(readFileSync(path, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }
    nodes: number[]
    strings: string[]
  }
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const width = fields.length
  const typeAt = fields.indexOf('type')
  const nameAt = fields.indexOf('name')
  const sizeAt = fields.indexOf('self_size')
  const rows = new Map<string, Totals>()
  const { nodes, strings } = snapshot
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] as number] as string
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string'
        ? '(strings)'
        : type === 'number' || type === 'hidden' || type === 'code'
          ? `(${type})`
          : (strings[nodes[i + nameAt] as number] as string).slice(0, 60)
    const key = `${type}:${name}`
    const row = rows.get(key) ?? { count: 0, bytes: 0 }
    row.count++
    row.bytes += nodes[i + sizeAt] as number
    rows.set(key, row)
  }
  return rows
}

const dir = mkdtempSync(join(tmpdir(), 'herald-heap-'))
const args = [
  '--heapsnapshot-signal=SIGUSR2',
  HERALD_BIN,
  'serve',
  '--port',
  '0',
  '--store',
  'memory',
  '--log-level',
  'error',
  '--max-connections-per-ip',
  '100000',
  ...extra,
]
const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] })
const port = await new Promise<number>((resolve) => {
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
    const match = /listening on http:\/\/[^:]+:(\d+)/.exec(out)
    if (match !== null) resolve(Number(match[1]))
  })
})

/** Signals the hub to write a snapshot and summarizes it once it is complete (it parses). */
async function snapshot(): Promise<Map<string, Totals>> {
  const before = new Set(readdirSync(dir))
  child.kill('SIGUSR2')
  for (let tries = 0; tries < 240; tries++) {
    await delay(500)
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f))
    if (file === undefined) continue
    try {
      return summarize(join(dir, file))
    } catch {
      // Still being written.
    }
  }
  throw new Error('no complete heap snapshot within 2 minutes')
}

// Warm-up: JIT, pools and the first arenas, and the caches a first stream fills.
for (const socket of await openMany(port, 200)) socket.destroy()
await delay(1000)
const base = await snapshot()
const sockets = await openMany(port, count)
await delay(1000)
const loaded = await snapshot()
for (const socket of sockets) socket.destroy()
child.kill('SIGTERM')
await new Promise((resolve) => child.once('exit', resolve))
// BENCH_KEEP=1 keeps the snapshots (open them in Chrome DevTools' Memory tab).
if (process.env.BENCH_KEEP === '1') console.log(`snapshots in ${dir}`)
else rmSync(dir, { recursive: true, force: true })

const diff: { key: string; count: number; bytes: number }[] = []
let total = 0
for (const [key, row] of loaded) {
  const before = base.get(key) ?? { count: 0, bytes: 0 }
  const bytes = row.bytes - before.bytes
  total += bytes
  diff.push({ key, count: row.count - before.count, bytes })
}
for (const [key, row] of base) if (!loaded.has(key)) total -= row.bytes
diff.sort((a, b) => b.bytes - a.bytes)
console.log(`${count} idle streams (${extra.join(' ') || 'default flags'}): V8 heap growth`)
console.log(`  total ${(total / count).toFixed(0)} bytes per stream`)
console.log('  per stream:  objects    bytes   type:constructor')
for (const row of diff.slice(0, 30)) {
  console.log(
    `  ${(row.count / count).toFixed(2).padStart(11)} ${(row.bytes / count).toFixed(0).padStart(8)}   ${row.key}`,
  )
}
