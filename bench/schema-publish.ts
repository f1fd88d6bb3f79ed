/**
 * `npm run bench:schema-publish`: the cost of registry validation on the publish path. Two
 * `herald serve` processes per store (memory, SQLite), one with a JSON Schema registered for
 * `bench/*` (14 properties, nested objects, an array, enums, bounds: every publish is validated
 * and stamped with its version), one without; each is driven by `wrk` (one thread, 32
 * keep-alive connections, bench/publish.lua) with the same 1 KiB JSON event. The servers
 * alternate inside each round (BENCH_ROUNDS, default 3; BENCH_SECONDS per measurement, default
 * 5), after a 2 s unrecorded warm-up of each; every server runs on core 0, wrk on core 1. Prints a table with the load average per row
 * and the with/without ratio per round.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const bin = new URL('../packages/cli/dist/bin.js', import.meta.url).pathname
const lua = new URL('./publish.lua', import.meta.url).pathname
const dir = mkdtempSync(join(os.tmpdir(), 'herald-bench-schema-'))

const SCHEMA = {
  type: 'object',
  required: ['id', 'customer', 'total', 'currency', 'status', 'lines'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: '^ord-[0-9]+$' },
    customer: {
      type: 'object',
      required: ['id', 'name'],
      properties: {
        id: { type: 'integer', minimum: 1 },
        name: { type: 'string', maxLength: 200 },
        email: { type: 'string', maxLength: 200 },
        tier: { enum: ['free', 'pro', 'enterprise'] },
      },
    },
    total: { type: 'number', minimum: 0 },
    currency: { enum: ['EUR', 'USD', 'GBP'] },
    status: { enum: ['new', 'paid', 'shipped', 'cancelled'] },
    note: { type: ['string', 'null'], maxLength: 500 },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 20 },
    lines: {
      type: 'array',
      maxItems: 50,
      items: {
        type: 'object',
        required: ['sku', 'qty', 'price'],
        additionalProperties: false,
        properties: {
          sku: { type: 'string' },
          qty: { type: 'integer', minimum: 1 },
          price: { type: 'number', minimum: 0 },
          title: { type: 'string' },
        },
      },
    },
    createdAt: { type: 'string' },
    source: { type: 'string' },
    priority: { type: 'integer', minimum: 0, maximum: 10 },
    gift: { type: 'boolean' },
  },
}

function event(): string {
  const data = {
    id: 'ord-123456',
    customer: { id: 42, name: 'Ada Lovelace', email: 'ada@example.com', tier: 'pro' },
    total: 0,
    currency: 'EUR',
    status: 'paid',
    note: 'leave at the door',
    tags: ['web', 'promo', 'returning'],
    lines: [] as unknown[],
    createdAt: '2026-12-06T03:00:00Z',
    source: 'checkout',
    priority: 3,
    gift: false,
  }
  let body = ''
  for (let i = 0; body.length < 1024; i++) {
    data.lines.push({ sku: `sku-${1000 + i}`, qty: 1 + (i % 3), price: 9.99, title: 'A thing' })
    data.total += 9.99
    body = JSON.stringify({ topic: 'bench/orders', data })
  }
  return body
}
const body = event()
const bodyFile = join(dir, 'body.json')
writeFileSync(bodyFile, body)

interface Server {
  name: string
  url: string
  child: ChildProcess
}

async function startServer(name: string, store: string, schema: boolean): Promise<Server> {
  const args = [bin, 'serve', '--port', '0', '--host', '127.0.0.1', '--store', store]
  args.push('--log-level', 'warn', '--publish-rate', '1000000')
  const child = spawn('taskset', ['-c', '0', process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 60_000)
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = /herald listening on (\S+)/.exec(out)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    })
  })
  if (schema) {
    const answer = await fetch(`${url}/schemas`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'bench/*', schema: SCHEMA }),
    })
    if (answer.status !== 201) throw new Error(`${name}: register answered ${answer.status}`)
  }
  // The event is accepted (and stamped) before anything is measured.
  const check = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  })
  if (check.status !== 200) throw new Error(`${name}: publish answered ${check.status}`)
  return { name, url, child }
}

const wrk = (url: string) => wrkFor(url, SECONDS)
function wrkFor(url: string, seconds: number): { rps: number; p99Ms: number; non2xx: number } {
  const output = execFileSync(
    'taskset',
    [
      '-c',
      '1',
      'wrk',
      '-t1',
      '-c32',
      `-d${seconds}s`,
      '--timeout',
      '10s',
      '-s',
      lua,
      `${url}/publish`,
    ],
    { encoding: 'utf8', env: { ...process.env, BENCH_BODY: bodyFile } },
  )
  const line = output.trim().split('\n').at(-1) as string
  const r = JSON.parse(line) as {
    requests: number
    durationUs: number
    non2xx: number
    p99Ms: number
  }
  return { rps: r.requests / (r.durationUs / 1e6), p99Ms: r.p99Ms, non2xx: r.non2xx }
}

const load = () => os.loadavg()[0]?.toFixed(1) ?? '?'
const servers = [
  await startServer('memory, no schema', 'memory', false),
  await startServer('memory, schema', 'memory', true),
  await startServer('sqlite, no schema', `sqlite:${join(dir, 'a', 'herald.db')}`, false),
  await startServer('sqlite, schema', `sqlite:${join(dir, 'b', 'herald.db')}`, true),
]
console.log(`1 KiB JSON event: ${Buffer.byteLength(body)} bytes; ${ROUNDS} rounds x ${SECONDS} s`)
console.log('| round | server | publishes/s | p99 ms | non-2xx | load (1 min) |')
console.log('| --- | --- | ---: | ---: | ---: | ---: |')
const ratios: Record<string, number[]> = { memory: [], sqlite: [] }
try {
  // A short unrecorded pass first: JIT and caches warm on every server alike.
  for (const server of servers) wrkFor(server.url, 2)
  for (let round = 1; round <= ROUNDS; round++) {
    const got: Record<string, number> = {}
    // Alternate the order each round: neither kind always runs first.
    const order = round % 2 === 1 ? servers : [...servers].reverse()
    for (const server of order) {
      const r = wrk(server.url)
      got[server.name] = r.rps
      console.log(
        `| ${round} | ${server.name} | ${r.rps.toFixed(0)} | ${r.p99Ms.toFixed(1)} | ${r.non2xx} | ${load()} |`,
      )
    }
    for (const store of ['memory', 'sqlite']) {
      ratios[store]?.push(
        (got[`${store}, schema`] as number) / (got[`${store}, no schema`] as number),
      )
    }
  }
  for (const [store, list] of Object.entries(ratios)) {
    const sorted = [...list].sort((a, b) => a - b)
    console.log(
      `${store}: with/without schema ${sorted.map((r) => r.toFixed(2)).join(', ')} (median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(2)}, min ${sorted[0]?.toFixed(2)}, max ${sorted.at(-1)?.toFixed(2)})`,
    )
  }
} finally {
  for (const s of servers) s.child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
