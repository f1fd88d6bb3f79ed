/**
 * What TLS and HTTP/2 cost per idle stream, which stay on `node:http2` while plain HTTP/1.1
 * streams take the lean path: `herald serve` (memory store) started three ways, N idle streams
 * opened from this process each time, the growth of the hub's VmRSS divided by N:
 *   lean    plain HTTP/1.1 (the default)
 *   https   HTTP/1.1 over TLS (`--tls-cert`), one connection per stream
 *   h2      HTTP/2 over TLS, 100 streams per connection (as a browser multiplexes them)
 * `npm run bench:hub-tls -- [N]` (default 1000). Linux only; needs `openssl`.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { HERALD_BIN } from '@herald/testkit'

const count = Number(process.argv[2] ?? 1000)
const dir = mkdtempSync(join(tmpdir(), 'herald-tls-rss-'))
const cert = join(dir, 'cert.pem')
const key = join(dir, 'key.pem')
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ],
  { stdio: 'ignore' },
)
const ca = readFileSync(cert)

function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(match?.[1] ?? Number.NaN)
}

type Kind = 'lean' | 'https' | 'h2'
type Close = () => void

function leanStream(port: number): Promise<Close> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1')
    socket.on('error', reject)
    socket.once('data', () => resolve(() => socket.destroy()))
    socket.write(
      'GET /events?topic=t HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n',
    )
  })
}

function httpsStream(port: number): Promise<Close> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: '/events?topic=t',
        headers: { accept: 'text/event-stream' },
        ca,
        agent: false,
      },
      (res) => {
        res.resume()
        resolve(() => req.destroy())
      },
    )
    req.on('error', reject)
  })
}

async function h2Streams(port: number, n: number): Promise<Close[]> {
  const closes: Close[] = []
  for (let i = 0; i < n; i += 100) {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca })
    const opened = await Promise.all(
      Array.from(
        { length: Math.min(100, n - i) },
        () =>
          new Promise<void>((resolve, reject) => {
            const stream = session.request({
              ':path': '/events?topic=t',
              accept: 'text/event-stream',
            })
            stream.on('response', () => resolve())
            stream.on('error', reject)
            stream.resume()
          }),
      ),
    )
    closes.push(...opened.map(() => () => {}))
    closes.push(() => session.destroy())
  }
  return closes
}

async function measure(kind: Kind): Promise<number> {
  const args = [HERALD_BIN, 'serve', '--port', '0', '--store', 'memory', '--log-level', 'error']
  args.push('--heartbeat', '0', '--max-connections-per-ip', '100000')
  if (kind !== 'lean') args.push('--tls-cert', cert, '--tls-key', key)
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve) => {
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = /listening on https?:\/\/[^:]+:(\d+)/.exec(out)
      if (match !== null) resolve(Number(match[1]))
    })
  })
  const pid = child.pid as number
  const open = async (n: number): Promise<Close[]> => {
    if (kind === 'h2') return h2Streams(port, n)
    const closes: Close[] = []
    for (let i = 0; i < n; i += 50) {
      closes.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(50, n - i) }, () =>
            kind === 'lean' ? leanStream(port) : httpsStream(port),
          ),
        )),
      )
    }
    return closes
  }
  // Warm-up, then measure.
  for (const close of await open(200)) close()
  await delay(1000)
  const before = rssKiB(pid)
  const closes = await open(count)
  await delay(1000)
  const after = rssKiB(pid)
  for (const close of closes) close()
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  return ((after - before) * 1024) / count
}

const results: Record<Kind, number[]> = { lean: [], https: [], h2: [] }
for (let round = 0; round < 2; round++) {
  for (const kind of ['lean', 'https', 'h2'] as const) results[kind].push(await measure(kind))
}
rmSync(dir, { recursive: true, force: true })
console.log(`${count} idle streams, 2 rounds, hub RSS growth per stream (KiB):`)
for (const kind of ['lean', 'https', 'h2'] as const) {
  console.log(`  ${kind.padEnd(6)} ${results[kind].map((b) => (b / 1024).toFixed(1)).join(', ')}`)
}
