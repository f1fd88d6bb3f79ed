/**
 * RSS per idle stream of `herald serve` with `--no-lean-streams` and with lean streams (the default): starts the hub,
 * opens N idle streams from this process (raw sockets), and divides the growth of the hub's
 * VmRSS (/proc/PID/status) by N. Linux only. `npx tsx bench/hub-lean-streams-rss.ts [N]`.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { HERALD_BIN } from '@herald/testkit'

const count = Number(process.argv[2] ?? 1000)
const rounds = 3

function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(match?.[1] ?? Number.NaN)
}

function openStream(port: number, topic: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
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
      `GET /events?topic=${topic} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\naccept: text/event-stream\r\n\r\n`,
    )
  })
}

async function openMany(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = []
  for (let i = 0; i < n; i += 100) {
    const batch = Math.min(100, n - i)
    sockets.push(
      ...(await Promise.all(
        Array.from({ length: batch }, (_, j) => openStream(port, `bench/${(i + j) % 50}`)),
      )),
    )
  }
  return sockets
}

async function measure(lean: boolean): Promise<number> {
  const args = [HERALD_BIN, 'serve', '--port', '0', '--store', 'memory', '--log-level', 'error']
  args.push('--heartbeat', '0')
  // Lean is the default: say which path explicitly either way.
  args.push(lean ? '--lean-streams' : '--no-lean-streams')
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve) => {
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(out)
      if (match !== null) resolve(Number(match[1]))
    })
  })
  const pid = child.pid as number
  // Warm up: JIT, buffers and the allocator's first arenas, then let them settle.
  for (const socket of await openMany(port, 200)) socket.destroy()
  await delay(1000)
  const before = rssKiB(pid)
  const sockets = await openMany(port, count)
  await delay(1000)
  const after = rssKiB(pid)
  for (const socket of sockets) socket.destroy()
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  return ((after - before) * 1024) / count
}

const results: Record<string, number[]> = { 'node:http': [], lean: [] }
for (let round = 0; round < rounds; round++) {
  results['node:http']?.push(await measure(false))
  results.lean?.push(await measure(true))
}
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0
const http = median(results['node:http'] ?? [])
const lean = median(results.lean ?? [])
console.log(`${count} idle streams, median of ${rounds} runs, hub RSS growth per stream:`)
console.log(`  node:http       ${(http / 1024).toFixed(1)} KiB`)
console.log(`  --lean-streams  ${(lean / 1024).toFixed(1)} KiB  (${(lean / http).toFixed(2)} x)`)
console.log(`  raw: ${JSON.stringify(results)}`)
