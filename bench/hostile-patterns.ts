/**
 * Fan-out burst time vs wildcard patterns per subscriber (issue 16 item 4), on the real
 * `herald serve --store memory`, for one or more builds side by side in ONE run:
 *
 *   tsx bench/hostile-patterns.ts [label=path/to/cli/dist/bin.js ...]
 *
 * Default: this tree's build only. Each configuration: S subscribers (raw sockets on
 * 127.0.0.x, reading), each with P distinct patterns that never match plus `burst/*`; one
 * publisher sends B events to `burst/1` in batches of 100; we time from the first publish to the
 * last subscriber's last event, and sample `/healthz` latency meanwhile. Bench process and hub
 * are separate processes; the machine is shared, so read ratios, not absolutes.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { freePort, waitForPort } from './ports.js'

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 100)
const EVENTS = Number(process.env.BENCH_EVENTS ?? 2000)
const PATTERNS = (process.env.BENCH_PATTERNS ?? '2,10,30').split(',').map(Number)
const here = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const builds = process.argv.slice(2).map((arg) => {
  const eq = arg.indexOf('=')
  return { label: arg.slice(0, eq), bin: arg.slice(eq + 1) }
})
if (builds.length === 0) builds.push({ label: 'this tree', bin: here })

async function startHub(bin: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [bin, 'serve', '--store', 'memory', '--port', String(port), '--host', '127.0.0.1'],
    {
      stdio: 'ignore',
      env: {
        ...process.env,
        HERALD_LOG_LEVEL: 'error',
        HERALD_HEARTBEAT: '0',
        HERALD_PUBLISH_RATE: '0',
      },
    },
  )
  await waitForPort(port)
  return { url: `http://127.0.0.1:${port}`, child }
}

function subscribe(port: number, i: number, topics: string[], onEvent: () => void): Socket {
  const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&')
  const socket = connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 200)}` })
  socket.write(`GET /events?${query} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`)
  let tail = ''
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => {
    const text = tail + chunk
    let at = text.indexOf('\nid: ')
    while (at !== -1) {
      onEvent()
      at = text.indexOf('\nid: ', at + 5)
    }
    tail = text.slice(-4)
  })
  socket.on('error', () => {})
  return socket
}

async function run(bin: string, patterns: number) {
  const { url, child } = await startHub(bin)
  const port = Number(new URL(url).port)
  let received = 0
  const target = SUBSCRIBERS * EVENTS
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  const sockets: Socket[] = []
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const topics = Array.from({ length: patterns }, (_, k) => `p${i}/${k}/*`)
    topics.push('burst/*')
    sockets.push(
      subscribe(port, i, topics, () => {
        if (++received === target) done()
      }),
    )
  }
  // Every subscriber registered: the hub counts them.
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text()
    if (new RegExp(`^herald_connections ${SUBSCRIBERS}$`, 'm').test(text)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const probes: number[] = []
  let probing = true
  const probe = (async () => {
    while (probing) {
      const t = performance.now()
      await (await fetch(`${url}/healthz`)).text()
      probes.push(performance.now() - t)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })()
  const started = performance.now()
  const batch = JSON.stringify(
    Array.from({ length: 100 }, () => ({ topic: 'burst/1', data: 'x'.repeat(64) })),
  )
  for (let sent = 0; sent < EVENTS; sent += 100) {
    const answer = await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: batch,
    })
    await answer.text()
  }
  await finished
  const ms = performance.now() - started
  probing = false
  await probe
  for (const socket of sockets) socket.destroy()
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  probes.sort((a, b) => a - b)
  const p99 = probes[Math.min(probes.length - 1, Math.floor(probes.length * 0.99))] ?? 0
  return { ms, p99 }
}

console.log(
  `# ${SUBSCRIBERS} subscribers, ${EVENTS} events to burst/1; P non-matching wildcard patterns each plus burst/*`,
)
console.log('| build | P | burst ms | /healthz p99 ms |')
console.log('|---|---:|---:|---:|')
const results = new Map<string, number>()
for (const patterns of PATTERNS) {
  // Builds interleaved per row, so that the machine's load drifts over both alike.
  for (const { label, bin } of builds) {
    const { ms, p99 } = await run(bin, patterns)
    results.set(`${label}/${patterns}`, ms)
    console.log(`| ${label} | ${patterns} | ${ms.toFixed(0)} | ${p99.toFixed(1)} |`)
  }
}
const first = PATTERNS[0] as number
const last = PATTERNS.at(-1) as number
for (const { label } of builds) {
  const a = results.get(`${label}/${first}`) ?? 0
  const b = results.get(`${label}/${last}`) ?? 0
  console.log(`${label}: P=${last} / P=${first} = ${(b / a).toFixed(2)}x`)
}
