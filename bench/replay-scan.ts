/**
 * `npm run bench:replay-scan`: what a replay costs when little or nothing matches, against the
 * size of the SQLite log (issue 16 item 5: `Last-Event-ID: earliest` with `topic=nomatch/*`
 * used to scan the whole log on the event loop).
 *
 * For each log size it fills a fresh SQLite file with events over 100 busy topics plus 10 events
 * on `rare/x`, then times a whole replay from the start (every page until the store says there
 * is no more) for `nomatch/*` (nothing matches), `rare/*` (10 events match) and `rare/x`.
 * Medians of BENCH_ROUNDS (default 7) reads, in process.
 *
 * BENCH_STORES: comma-separated `name=module` pairs, each a module exporting
 * `createSqliteEventStore` (default: this checkout's `@herald/store-sqlite`). To compare with
 * another build in the same run, point a second entry at its built module, e.g.
 * `BENCH_STORES=now=@herald/store-sqlite,old=/path/to/old/packages/store-sqlite/dist/index.js`.
 * Both the current `read` and the older `readSince` interfaces are driven.
 * BENCH_SIZES: log sizes (default 10000,100000,400000).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

interface Page {
  kind: string
  events?: readonly { id: string }[]
  cursor?: string
  more?: boolean
}
interface AnyStore {
  append(events: { topic: string; data: string }[]): Promise<{ id: string }[]>
  read?(cursor: string | undefined, filter: { topics: string[]; limit: number }): Promise<Page>
  readSince?(cursor: string | undefined, filter: { topics: string[]; limit: number }): Promise<Page>
  close(): Promise<void>
}

const SIZES = (process.env.BENCH_SIZES ?? '10000,100000,400000').split(',').map(Number)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const STORES = (process.env.BENCH_STORES ?? 'now=@herald/store-sqlite').split(',').map((s) => {
  const [name, module] = s.split('=') as [string, string]
  return { name, module }
})
const PATTERNS = ['nomatch/*', 'rare/*', 'rare/x']

async function load(module: string) {
  const specifier = module.startsWith('/') ? pathToFileURL(module).href : module
  const mod = (await import(specifier)) as {
    createSqliteEventStore(options: { path: string; retention?: object }): AnyStore
  }
  return mod.createSqliteEventStore
}

/** Reads every matching event after the start; answers how many. */
async function replay(store: AnyStore, pattern: string): Promise<number> {
  let cursor: string | undefined
  let count = 0
  for (;;) {
    const filter = { topics: [pattern], limit: 500 }
    const page = store.read
      ? await store.read(cursor, filter)
      : await store.readSince?.(cursor, filter)
    if (page === undefined || page.kind !== 'events') throw new Error(`unexpected ${page?.kind}`)
    const events = page.events ?? []
    count += events.length
    const next = page.cursor ?? events.at(-1)?.id
    if (page.more !== true || next === undefined) return count
    cursor = next
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

const dir = mkdtempSync(join(os.tmpdir(), 'herald-replay-scan-'))
const rows: string[] = []
try {
  for (const size of SIZES) {
    for (const { name, module } of STORES) {
      const create = await load(module)
      const store = create({
        path: join(dir, `${name}-${size}.db`),
        retention: { maxEvents: size * 2, maxAgeMs: 24 * 3600_000 },
      })
      const batch = 1000
      for (let i = 0; i < size; i += batch) {
        const events = Array.from({ length: Math.min(batch, size - i) }, (_, j) => ({
          topic: (i + j) % (size / 10) === 0 ? 'rare/x' : `busy/${(i + j) % 100}`,
          data: 'x'.repeat(100),
        }))
        await store.append(events)
      }
      const cells: string[] = []
      for (const pattern of PATTERNS) {
        const times: number[] = []
        let matched = 0
        for (let r = 0; r < ROUNDS; r++) {
          const started = performance.now()
          matched = await replay(store, pattern)
          times.push(performance.now() - started)
        }
        cells.push(`${median(times).toFixed(2)} ms (${matched})`)
      }
      await store.close()
      rows.push(`| ${size} | ${name} | ${cells.join(' | ')} |`)
      console.error(rows.at(-1))
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
console.log(`| log size | store | ${PATTERNS.map((p) => `\`${p}\` (matched)`).join(' | ')} |`)
console.log(`|---|---|${PATTERNS.map(() => '---').join('|')}|`)
for (const row of rows) console.log(row)
