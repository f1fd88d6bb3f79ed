import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isHeraldError } from '@herald/protocol'
import type { EventStore } from '@herald/store'
import { runEventStoreContract, runSchemaStoreContract } from '@herald/store/contract'
import { createSqliteEventStore } from '@herald/store-sqlite'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')
let n = 0
let path = ''

/** A trigger, installed from a second connection, that refuses events whose data is `boom`. */
function installRefusal(file: string): void {
  const db = new Database(file)
  db.exec(
    "CREATE TRIGGER IF NOT EXISTS refuse_boom BEFORE INSERT ON events_v2 WHEN NEW.data = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END",
  )
  db.close()
}

runEventStoreContract('sqlite', {
  create(options) {
    path = join(dir, `contract-${n++}`, 'herald.db')
    const store = createSqliteEventStore({ path, ...options })
    installRefusal(path)
    return store
  },
  reopen: (options) => createSqliteEventStore({ path, ...options }),
  peer: (options) => createSqliteEventStore({ path, ...options }),
  refusedInput: { topic: 'r', data: 'boom' },
})

let schemaPath = ''
runSchemaStoreContract('sqlite', {
  create() {
    schemaPath = join(dir, `schemas-${n++}`, 'herald.db')
    return createSqliteEventStore({ path: schemaPath })
  },
  reopen: () => createSqliteEventStore({ path: schemaPath }),
  peer: () => createSqliteEventStore({ path: schemaPath }),
})

async function readAll(store: EventStore, topics: string[]) {
  const page = await store.read(undefined, { topics, limit: 1000 })
  if (page.kind !== 'events') throw new Error('unexpected reset')
  return page.events
}

describe('SQLite store specifics', () => {
  it('writes a versioned schema: events_v2, schemas_v3 and herald_meta.schema_version = 3', async () => {
    const file = join(dir, 'schema.db')
    const store = createSqliteEventStore({ path: file })
    await store.append([{ topic: 't', data: 'x', alternates: ['u'] }])
    await store.close()
    const db = new Database(file, { readonly: true })
    const version = db.prepare("SELECT value FROM herald_meta WHERE key = 'schema_version'").get()
    const rows = db.prepare('SELECT topic, alternates, data FROM events_v2').all()
    const topics = db.prepare('SELECT name FROM topics_v2 ORDER BY name').all()
    const alternates = db.prepare('SELECT topic, event_id FROM alternates_v2').all()
    db.close()
    expect(version).toEqual({ value: '3' })
    expect(rows).toEqual([{ topic: 't', alternates: '["u"]', data: 'x' }])
    expect(topics).toEqual([{ name: 't' }, { name: 'u' }])
    expect(alternates).toEqual([{ topic: 'u', event_id: 1 }])
  })

  it('migrates a v1 file written by Herald 0.1 (schema v1): events, cursors, watermarks, counter', async () => {
    const file = join(dir, 'v1.db')
    copyFileSync(join(fixtures, 'herald-v1.db'), file)
    // The fixture's events are from 2023: lift the age bound so retention keeps them.
    const keep = { maxAgeMs: Number.POSITIVE_INFINITY }
    const store = createSqliteEventStore({ path: file, retention: keep })
    const all = await readAll(store, ['**'])
    expect(all.map((e) => [e.id, e.topic, e.data])).toEqual([
      ['0000000000000001', 'books/1', 'one'],
      ['0000000000000003', 'noisy/b', 'n2'],
      ['0000000000000004', 'noisy/c', 'n3'],
      ['0000000000000005', 'books/2', '{"json":true}'],
      ['0000000000000006', 'authors/7', 'é 😀\nline two'],
    ])
    expect(all[0]).toMatchObject({ type: 'update', clientId: 'c-1', retry: 500, alternates: [] })
    expect(all[3]?.private).toBe(true)
    expect(all[0]?.publishedAt).toBe(1_700_000_000_000)
    // The migrated topics index serves pattern reads.
    expect((await readAll(store, ['books/*'])).map((e) => e.data)).toEqual(['one', '{"json":true}'])
    // The per-topic watermark survived: a cursor before the pruned noisy/a resets noisy/**.
    const noisy = await store.read('0000000000000001', { topics: ['noisy/**'], limit: 10 })
    expect(noisy.kind === 'reset' && noisy.reason).toBe('expired')
    // The counter: v1 kept last_id = 4 in meta while rows went to 6; the next id is 7.
    const [next] = await store.append([{ topic: 'books/3', data: 'new' }])
    expect(next?.id).toBe('0000000000000007')
    expect(await store.health()).toEqual({
      ok: true,
      oldestId: '0000000000000001',
      latestId: '0000000000000007',
    })
    await store.close()
    const db = new Database(file, { readonly: true })
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => (r as { name: string }).name)
    const version = db.prepare("SELECT value FROM herald_meta WHERE key = 'schema_version'").get()
    db.close()
    expect(version).toEqual({ value: '3' })
    expect(tables).toEqual([
      'alternates_v2',
      'events_v2',
      'herald_meta',
      'pruned_topics_v2',
      'schemas_v3',
      'topics_v2',
    ])
    // Opening again is a no-op.
    const again = createSqliteEventStore({ path: file, retention: keep })
    expect((await readAll(again, ['**'])).length).toBe(6)
    await again.close()
  })

  it('leaves a v1 file untouched when the migration fails', () => {
    const file = join(dir, 'v1-broken.db')
    copyFileSync(join(fixtures, 'herald-v1.db'), file)
    const db = new Database(file)
    // A table in the way of the v2 layout makes the migration fail half-way.
    db.exec('CREATE TABLE topics_v2 (x)')
    db.close()
    expect(() => createSqliteEventStore({ path: file })).toThrow()
    const check = new Database(file, { readonly: true })
    const version = check
      .prepare("SELECT value FROM herald_meta WHERE key = 'schema_version'")
      .get()
    const rows = check.prepare('SELECT count(*) AS n FROM events_v1').get()
    const v2 = check.prepare("SELECT name FROM sqlite_master WHERE name = 'events_v2'").get()
    check.close()
    expect(version).toEqual({ value: '1' })
    expect(rows).toEqual({ n: 5 })
    expect(v2).toBeUndefined()
  })

  it('migrates a v2 file (written by the v2 build) to v3: events kept, schemas and schema versions stored', async () => {
    const file = join(dir, 'v2.db')
    copyFileSync(join(fixtures, 'herald-v2.db'), file)
    const keep = { maxAgeMs: Number.POSITIVE_INFINITY }
    const store = createSqliteEventStore({ path: file, retention: keep })
    const before = await readAll(store, ['**'])
    expect(before.map((e) => [e.id, e.topic, e.data, e.type, e.clientId, e.schemaVersion])).toEqual(
      [
        ['0000000000000001', 'orders/1', '{"total":3}', 'created', 'c-1', undefined],
        ['0000000000000002', 'orders/2', 'plain', undefined, undefined, undefined],
      ],
    )
    const [next] = await store.append([{ topic: 'orders/3', data: '{}', schemaVersion: 1 }])
    expect(next?.id).toBe('0000000000000003')
    await store.schemas?.registerSchema(
      { topic: 'orders/*', schema: '{"type":"object"}', compatibility: 'backward' },
      0,
    )
    await store.close()
    const again = createSqliteEventStore({ path: file, retention: keep })
    expect((await readAll(again, ['orders/3']))[0]?.schemaVersion).toBe(1)
    expect((await again.schemas?.listSchemas())?.map((v) => [v.topic, v.version])).toEqual([
      ['orders/*', 1],
    ])
    await again.close()
    const db = new Database(file, { readonly: true })
    const version = db.prepare("SELECT value FROM herald_meta WHERE key = 'schema_version'").get()
    db.close()
    expect(version).toEqual({ value: '3' })
  })

  it('refuses a file from a newer Herald', () => {
    const file = join(dir, 'newer.db')
    const db = new Database(file)
    db.exec(
      "CREATE TABLE herald_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO herald_meta VALUES ('schema_version', '9')",
    )
    db.close()
    let error: unknown
    try {
      createSqliteEventStore({ path: file })
    } catch (e) {
      error = e
    }
    expect(isHeraldError(error, 'HERALD_STORE_SCHEMA_MISMATCH')).toBe(true)
  })

  it('writes the appends of one event-loop turn in one transaction', async () => {
    const store = createSqliteEventStore({ path: join(dir, 'batch.db') })
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => store.append([{ topic: 't', data: String(i) }])),
    )
    const ids = results.map((r) => r[0]?.id)
    expect(ids).toEqual([...ids].sort())
    expect(new Set(ids).size).toBe(200)
    await store.close()
  })

  it('answers a pattern that matches no topic without walking the log', async () => {
    const store = createSqliteEventStore({ path: join(dir, 'nomatch.db') })
    for (let i = 0; i < 20; i++) {
      await store.append(
        Array.from({ length: 1000 }, (_, j) => ({ topic: `busy/${j % 10}`, data: 'x' })),
      )
    }
    const page = await store.read('0', { topics: ['nomatch/*'], limit: 1 })
    expect(page).toEqual({ kind: 'events', events: [], cursor: '0000000000020000', more: false })
    await store.close()
  })

  it('pages a read of many topics in id order, each event once, whichever path it takes', async () => {
    const store = createSqliteEventStore({ path: join(dir, 'merge.db') })
    // 12 busy topics under a/, some events also under b/ (alternates), one topic outside a/.
    const inputs = Array.from({ length: 600 }, (_, i) => ({
      topic: i % 50 === 0 ? 'z/rare' : `a/${i % 12}`,
      data: String(i),
      ...(i % 7 === 0 ? { alternates: [`b/${i % 3}`, `a/${(i + 1) % 12}`] } : {}),
    }))
    await store.append(inputs)
    const all = await readAll(store, ['**'])
    const read = async (topics: string[], limit: number): Promise<string[]> => {
      const out: string[] = []
      let cursor: string | undefined = '0'
      for (;;) {
        const page = await store.read(cursor, { topics, limit })
        if (page.kind !== 'events') throw new Error('unexpected reset')
        out.push(...page.events.map((e) => e.data))
        if (!page.more) return out
        cursor = page.cursor
      }
    }
    const expected = (match: (topic: string) => boolean): string[] =>
      all.filter((e) => match(e.topic) || e.alternates.some(match)).map((e) => e.data)
    for (const limit of [1, 7, 1000]) {
      // Per-topic walks merged (canonical and alternates, the same event through both once).
      expect(await read(['a/*', 'b/*'], limit)).toEqual(
        expected((t) => t.startsWith('a/') || t.startsWith('b/')),
      )
      expect(await read(['b/1', 'a/3'], limit)).toEqual(expected((t) => t === 'b/1' || t === 'a/3'))
      // A pattern matching every topic of the log: the log itself.
      expect(await read(['*/*'], limit)).toEqual(all.map((e) => e.data))
    }
    await store.close()
  })

  it('wakes a watcher in another process-like instance (data_version poll)', async () => {
    const file = join(dir, 'poll.db')
    const a = createSqliteEventStore({ path: file })
    const b = createSqliteEventStore({ path: file })
    const stop = new AbortController()
    const wakes = b.watch(stop.signal)[Symbol.asyncIterator]()
    await a.append([{ topic: 't', data: 'x' }])
    expect((await wakes.next()).done).toBe(false)
    stop.abort()
    await a.close()
    await b.close()
  })
})
