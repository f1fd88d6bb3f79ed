/**
 * The SQLite store before and after, at store level, in ONE run: each measurement is a fresh
 * process on a fresh file, old and new alternating in rounds. Reports CPU microseconds per
 * event (the process's user+system time: what a loaded, shared machine distorts least) and
 * events/s (wall clock: follows the other tenants of the machine).
 *
 *   OLD_STORE=/old/tree/packages/store-sqlite/dist/index.js \
 *   NEW_STORE=$PWD/packages/store-sqlite/dist/index.js npx tsx bench/sqlite-before-after.ts
 *
 * Per process: append BENCH_EVENTS (20000) events of 128 B over 16 topics (`bench/0..15`),
 * one event per `append`, BENCH_IN_FLIGHT (32) in flight (what `wrk -c32` against the hub
 * gives the store); then read them all back in pages of 1000 with `bench/**` and with one
 * topic (`bench/3`). The old store (0.1) names its read `readSince`. Env: BENCH_ROUNDS (5).
 * A line of JSON per measurement, then a table of medians with ranges.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface Page {
  kind: string
  events: { id: string }[]
  more: boolean
  cursor?: string | undefined
}
interface AnyStore {
  append(inputs: { topic: string; data: string }[]): Promise<unknown>
  read?(cursor: string, filter: { topics: string[]; limit: number }): Promise<Page>
  readSince?(cursor: string, filter: { topics: string[]; limit: number }): Promise<Page>
  close(): Promise<void>
}
interface Sample {
  side: string
  appendPerS: number
  appendCpuUs: number
  readAllPerS: number
  readAllCpuUs: number
  readOnePerS: number
  readOneCpuUs: number
  load: number
}

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000)
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 32)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

async function measure(side: string, module: string): Promise<Sample> {
  const { createSqliteEventStore } = (await import(module)) as {
    createSqliteEventStore(options: { path: string }): AnyStore
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'herald-sqlite-ba-'))
  const store = createSqliteEventStore({ path: join(dir, 'h.db') })
  const data = 'x'.repeat(128)
  const timed = async (n: () => Promise<number>): Promise<[perS: number, cpuUs: number]> => {
    const cpu = process.cpuUsage()
    const start = performance.now()
    const count = await n()
    const ms = performance.now() - start
    const used = process.cpuUsage(cpu)
    return [Math.round((count / ms) * 1000), +((used.user + used.system) / count).toFixed(2)]
  }
  const [appendPerS, appendCpuUs] = await timed(async () => {
    let inFlight: Promise<unknown>[] = []
    for (let i = 0; i < EVENTS; i++) {
      inFlight.push(store.append([{ topic: `bench/${i % 16}`, data }]))
      if (inFlight.length === IN_FLIGHT) {
        await Promise.all(inFlight)
        inFlight = []
      }
    }
    await Promise.all(inFlight)
    return EVENTS
  })
  const readAll = async (topics: string[]): Promise<number> => {
    let cursor = '0'
    let n = 0
    for (;;) {
      const filter = { topics, limit: 1000 }
      const page = await (store.read ?? store.readSince)?.call(store, cursor, filter)
      if (page === undefined || page.kind !== 'events') throw new Error('unexpected page')
      n += page.events.length
      const next = page.cursor ?? page.events.at(-1)?.id
      if (!page.more || next === undefined) return n
      cursor = next
    }
  }
  const [readAllPerS, readAllCpuUs] = await timed(() => readAll(['bench/**']))
  const [readOnePerS, readOneCpuUs] = await timed(() => readAll(['bench/3']))
  await store.close()
  rmSync(dir, { recursive: true, force: true })
  const load = Number(os.loadavg()[0]?.toFixed(2))
  return {
    side,
    appendPerS,
    appendCpuUs,
    readAllPerS,
    readAllCpuUs,
    readOnePerS,
    readOneCpuUs,
    load,
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

if (process.env.BENCH_CHILD !== undefined) {
  const [side, module] = process.env.BENCH_CHILD.split('=') as [string, string]
  console.log(JSON.stringify(await measure(side, module)))
} else {
  const sides = { old: process.env.OLD_STORE, new: process.env.NEW_STORE }
  if (sides.old === undefined || sides.new === undefined) {
    throw new Error('set OLD_STORE and NEW_STORE to the dist/index.js of each store-sqlite')
  }
  const samples: Sample[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [side, module] of Object.entries(sides)) {
      const out = execFileSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url)],
        {
          env: { ...process.env, BENCH_CHILD: `${side}=${module}` },
          encoding: 'utf8',
        },
      )
      const sample = JSON.parse(out.trim().split('\n').at(-1) as string) as Sample
      console.log(JSON.stringify({ round, ...sample }))
      samples.push(sample)
    }
  }
  const rows: [string, keyof Sample][] = [
    ['append, 1 event per call, 32 in flight: events/s', 'appendPerS'],
    ['append: CPU µs per event', 'appendCpuUs'],
    ['read all topics (bench/**), pages of 1000: events/s', 'readAllPerS'],
    ['read all topics: CPU µs per event', 'readAllCpuUs'],
    ['read 1 topic of 16, pages of 1000: events/s', 'readOnePerS'],
    ['read 1 topic: CPU µs per event', 'readOneCpuUs'],
  ]
  const cell = (side: string, key: keyof Sample): string => {
    const values = samples.filter((s) => s.side === side).map((s) => s[key] as number)
    return `${median(values).toLocaleString('en-US')} [${Math.min(...values).toLocaleString('en-US')}-${Math.max(...values).toLocaleString('en-US')}]`
  }
  console.log('\n| | before | after | after / before |\n|---|---|---|---|')
  for (const [name, key] of rows) {
    const ratio = (
      median(samples.filter((s) => s.side === 'new').map((s) => s[key] as number)) /
      median(samples.filter((s) => s.side === 'old').map((s) => s[key] as number))
    ).toFixed(2)
    console.log(`| ${name} | ${cell('old', key)} | ${cell('new', key)} | ${ratio}x |`)
  }
  const loads = samples.map((s) => s.load)
  console.log(`\nload average (1 min) during the run: ${Math.min(...loads)}-${Math.max(...loads)}`)
}
