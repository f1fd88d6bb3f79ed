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

// Again with the count bound deleted from the file in chunks of 4: every event past the bound
// must be gone for readers at once, as the contract says, while the rows wait for their chunk.
runEventStoreContract('sqlite, count bound deleted in chunks', {
  create(options) {
    path = join(dir, `contract-${n++}`, 'herald.db')
    const store = createSqliteEventStore({ path, pruneChunk: 4, ...options })
    installRefusal(path)
    return store
  },
  reopen: (options) => createSqliteEventStore({ path, pruneChunk: 4, ...options }),
  peer: (options) => createSqliteEventStore({ path, pruneChunk: 4, ...options }),
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
  it('writes a versioned schema: events_v2, schemas_v3 and herald_meta.schema_version = 4', async () => {
    const file = join(dir, 'schema.db')
    const store = createSqliteEventStore({ path: file })
    await store.append([{ topic: 't', data: 'x', alternates: ['u'] }])
    await store.close()
    const db = new Database(file, { readonly: true })
    const version = db.prepare("SELECT value FROM herald_meta WHERE key = 'schema_version'").get()
    const rows = db.prepare('SELECT topic, alternates, data FROM events_v2').all()
    const topics = db.prepare('SELECT name FROM topics_v2 ORDER BY name').all()
    const alternates = db.prepare('SELECT topic, event_id FROM alternates_v2').all()
    const indexes = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
      )
      .all()
    db.close()
    expect(version).toEqual({ value: '4' })
    expect(indexes).toEqual([
      { name: 'alternates_v2_event' },
      { name: 'events_v2_client_id_v4' },
      { name: 'events_v2_topic' },
    ])
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
    expect(version).toEqual({ value: '4' })
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

  it('migrates a v2 file (schema v2, main at af66ffa) to v4: events, alternates, update ids, watermarks, counter', async () => {
    // Written by the v2 store: books/1 (update id), noisy/a then noisy/b under a per-topic
    // count rule of 1 (noisy/a pruned), books/2 with alternates authors/7 and shelves/a
    // (update id, private), authors/7, then old/x, the NEWEST event, deleted by a per-topic
    // age rule: v2 kept last_id = 6 while the newest row is 5.
    const file = join(dir, 'v2.db')
    copyFileSync(join(fixtures, 'herald-v2-retention.db'), file)
    const keep = { maxAgeMs: Number.POSITIVE_INFINITY }
    const store = createSqliteEventStore({ path: file, retention: keep })
    const all = await readAll(store, ['**'])
    expect(all.map((e) => [e.id, e.topic, e.data, e.alternates])).toEqual([
      ['0000000000000001', 'books/1', 'one', []],
      ['0000000000000003', 'noisy/b', 'n2', []],
      ['0000000000000004', 'books/2', '{"json":true}', ['authors/7', 'shelves/a']],
      ['0000000000000005', 'authors/7', 'é 😀\nline two', []],
    ])
    expect(all[0]).toMatchObject({ type: 'update', retry: 500 })
    expect(all[2]?.private).toBe(true)
    // Alternates still find their event; update ids still resolve (through the v3 index).
    expect((await readAll(store, ['shelves/*'])).map((e) => e.data)).toEqual(['{"json":true}'])
    expect(await store.findCursor?.('urn:uuid:0b9f5a3c-7d2e-4c1b-8a6f-5e4d3c2b1a09')).toBe(
      '0000000000000004',
    )
    await expect(
      store.append([
        { topic: 'x', data: 'dup', clientId: 'urn:uuid:6f1c1a84-1b0e-4a55-9f8e-1c2d3e4f5a6b' },
      ]),
    ).rejects.toMatchObject({ code: 'HERALD_DUPLICATE_EVENT_ID' })
    // Watermarks: noisy/** from before noisy/a's deletion resets; old/x's too.
    const noisy = await store.read('0000000000000001', { topics: ['noisy/**'], limit: 10 })
    expect(noisy.kind === 'reset' && noisy.reason).toBe('expired')
    // The counter: the newest row is 5, but 6 was issued (and deleted): the next id is 7.
    expect((await store.health()).ok && (await store.health())).toMatchObject({
      latestId: '0000000000000006',
    })
    const [next] = await store.append([{ topic: 'books/3', data: 'new' }])
    expect(next?.id).toBe('0000000000000007')
    await store.close()
    const db = new Database(file, { readonly: true })
    const version = db.prepare("SELECT value FROM herald_meta WHERE key = 'schema_version'").get()
    const indexes = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
      )
      .all()
    db.close()
    expect(version).toEqual({ value: '4' })
    expect(indexes).toEqual([
      { name: 'alternates_v2_event' },
      { name: 'events_v2_client_id_v4' },
      { name: 'events_v2_topic' },
    ])
    const again = createSqliteEventStore({ path: file, retention: keep })
    expect((await readAll(again, ['**'])).length).toBe(5)
    const [after] = await again.append([{ topic: 'books/3', data: 'newer' }])
    expect(after?.id).toBe('0000000000000008')
    await again.close()
  })

  it('migrates a v3 file (schema v3, main at 729cb06) to v4: indexes swapped, ids, schemas, counter kept', async () => {
    // Written by the v3 store: a schema for orders/*, orders/1 (schema version 1, update id),
    // books/1 with alternate authors/7 (update id), then old/x, the NEWEST event, deleted by a
    // per-topic age rule: v3 kept last_id = 3 while the newest row is 2.
    const file = join(dir, 'v3.db')
    copyFileSync(join(fixtures, 'herald-v3.db'), file)
    const keep = { maxAgeMs: Number.POSITIVE_INFINITY }
    const store = createSqliteEventStore({ path: file, retention: keep })
    const all = await readAll(store, ['**'])
    expect(all.map((e) => [e.id, e.topic, e.clientId, e.schemaVersion, e.alternates])).toEqual([
      ['0000000000000001', 'orders/1', 'urn:uuid:5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', 1, []],
      [
        '0000000000000002',
        'books/1',
        'urn:uuid:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d',
        undefined,
        ['authors/7'],
      ],
    ])
    expect(await store.findCursor?.('urn:uuid:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d')).toBe(
      '0000000000000002',
    )
    expect((await store.schemas?.listSchemas())?.map((v) => [v.topic, v.version])).toEqual([
      ['orders/*', 1],
    ])
    const old = await store.read('0000000000000002', { topics: ['old/**'], limit: 10 })
    expect(old.kind === 'reset' && old.reason).toBe('expired')
    // Id 3 was issued and deleted: the next is 4, and its update id is derived.
    const [next] = await store.append([{ topic: 'books/2', data: 'new' }])
    expect(next?.id).toBe('0000000000000004')
    expect(next?.clientId).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8/)
    expect(await store.findCursor?.(next?.clientId as string)).toBe(next?.id)
    await store.close()
    const db = new Database(file, { readonly: true })
    const version = db.prepare("SELECT value FROM herald_meta WHERE key = 'schema_version'").get()
    const indexes = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
      )
      .all()
    const stored = db.prepare('SELECT client_id FROM events_v2 WHERE id = 4').get()
    db.close()
    expect(version).toEqual({ value: '4' })
    expect(indexes).toEqual([
      { name: 'alternates_v2_event' },
      { name: 'events_v2_client_id_v4' },
      { name: 'events_v2_topic' },
    ])
    // Nothing stored for a derived id.
    expect(stored).toEqual({ client_id: null })
  })

  it('keeps the counter when retention deletes the newest event (floors in herald_meta)', async () => {
    const file = join(dir, 'floor.db')
    let t = 1_000_000
    const options = {
      path: file,
      now: () => t,
      pruneIntervalMs: 0,
      retention: { topics: [{ pattern: 'old/**', maxAgeMs: 1000 }] },
    }
    const store = createSqliteEventStore(options)
    await store.append([{ topic: 'a', data: '1' }])
    await store.append([{ topic: 'old/x', data: '2' }])
    t += 5000
    // The read applies the age rule: the newest event (2) goes.
    expect((await readAll(store, ['**'])).map((e) => e.data)).toEqual(['1'])
    await store.close()
    // Another instance (a restart, or another process) continues the counter and the clock.
    t = 0
    const reopened = createSqliteEventStore(options)
    const [next] = await reopened.append([{ topic: 'a', data: '3' }])
    expect(next?.id).toBe('0000000000000003')
    expect(next?.publishedAt).toBe(1_000_000)
    await reopened.close()
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

  it('migrates a v2 file (written by the v2 build) to v3 and on: events kept, schemas and schema versions stored', async () => {
    const file = join(dir, 'v2.db')
    copyFileSync(join(fixtures, 'herald-v2.db'), file)
    const keep = { maxAgeMs: Number.POSITIVE_INFINITY }
    const store = createSqliteEventStore({ path: file, retention: keep })
    const before = await readAll(store, ['**'])
    expect(before.map((e) => [e.id, e.topic, e.data, e.type, e.clientId, e.schemaVersion])).toEqual(
      [
        ['0000000000000001', 'orders/1', '{"total":3}', 'created', 'c-1', undefined],
        // No publisher id: the one derived from the cursor (schema v4).
        [
          '0000000000000002',
          'orders/2',
          'plain',
          undefined,
          expect.stringMatching(/^urn:uuid:/),
          undefined,
        ],
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
    expect(version).toEqual({ value: '4' })
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
    // Written by multi-row inserts (64 rows a statement): every row where its id says.
    expect(await readAll(store, ['t'])).toEqual(results.flat())
    await store.close()
  })

  it('refuses the second of two publishes with one update id in one turn, and writes the rest', async () => {
    const store = createSqliteEventStore({ path: join(dir, 'batch-repeat.db') })
    // 3 publishes alone (one insert per row), then among 20 others (one multi-row insert).
    for (const others of [0, 20]) {
      const more = Array.from({ length: others }, (_, i) => `${i}`)
      const [a, b, c, ...rest] = await Promise.allSettled([
        store.append([{ topic: `t${others}`, data: 'a', clientId: `urn:uuid:same-${others}` }]),
        store.append([{ topic: `t${others}`, data: 'b', clientId: `urn:uuid:same-${others}` }]),
        store.append([{ topic: `t${others}`, data: 'c' }]),
        ...more.map((data) => store.append([{ topic: `t${others}`, data }])),
      ])
      expect(a?.status).toBe('fulfilled')
      expect(b?.status === 'rejected' && isHeraldError(b.reason, 'HERALD_DUPLICATE_EVENT_ID')).toBe(
        true,
      )
      expect(c?.status).toBe('fulfilled')
      expect(rest.every((r) => r.status === 'fulfilled')).toBe(true)
      expect((await readAll(store, [`t${others}`])).map((e) => e.data)).toEqual(['a', 'c', ...more])
    }
    await store.close()
  })

  it('deletes events past the count bound from the file in chunks, hidden from readers at once', async () => {
    const file = join(dir, 'chunks.db')
    const store = createSqliteEventStore({
      path: file,
      retention: { maxEvents: 10 },
      pruneChunk: 5,
    })
    const rowsInFile = (): number => {
      const db = new Database(file, { readonly: true })
      try {
        return db.prepare('SELECT count(*) FROM events_v2').pluck().get() as number
      } finally {
        db.close()
      }
    }
    const all = []
    for (let i = 0; i < 14; i++) all.push(...(await store.append([{ topic: 't', data: `${i}` }])))
    const kept = ['4', '5', '6', '7', '8', '9', '10', '11', '12', '13']
    expect((await readAll(store, ['**'])).map((e) => e.data)).toEqual(kept)
    expect((await readAll(store, ['t'])).map((e) => e.data)).toEqual(kept)
    expect(await store.health()).toEqual({ ok: true, oldestId: all[4]?.id, latestId: all[13]?.id })
    // Four events past the bound, one short of a chunk: still in the file.
    expect(rowsInFile()).toBe(14)
    await store.append([{ topic: 't', data: '14' }])
    // The fifth: all five deleted in one statement.
    expect(rowsInFile()).toBe(10)
    expect((await readAll(store, ['**'])).map((e) => e.data)).toEqual([...kept.slice(1), '14'])
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

  it('resets a subscriber of an ALTERNATE topic when a topic rule deletes the event', async () => {
    const store = createSqliteEventStore({
      path: join(dir, 'alt-prune.db'),
      retention: { topics: [{ pattern: 'books/**', maxEvents: 1 }] },
    })
    const [first] = await store.append([{ topic: 'x', data: '0' }])
    await store.append([{ topic: 'books/1', data: 'multi', alternates: ['authors/7'] }])
    // books/** keeps 1 event: the multi-topic one goes, and authors/7 lost it.
    await store.append([{ topic: 'books/2', data: 'newer' }])
    const page = await store.read(first?.id, { topics: ['authors/7'], limit: 10 })
    expect(page.kind === 'reset' && page.reason).toBe('expired')
    await store.close()
  })

  it("answers the tail from its own last appends only while they are the log's tail", async () => {
    const file = join(dir, 'recent.db')
    const a = createSqliteEventStore({ path: file, retention: { maxEvents: 3 } })
    const b = createSqliteEventStore({ path: file, retention: { maxEvents: 3 } })
    const all = async (store: EventStore, cursor: string) => {
      const page = await store.read(cursor, { topics: ['**'], limit: 100 })
      return page.kind === 'events' ? page.events.map((e) => e.data) : page.reason
    }
    const [x] = await a.append([{ topic: 't', data: 'x' }])
    expect(await all(a, x?.id as string)).toEqual([])
    // Another connection commits after a's batch: a must read it from the file.
    await b.append([{ topic: 't', data: 'y' }])
    expect(await all(a, x?.id as string)).toEqual(['y'])
    // A batch that retention trims at once (5 events, 3 kept): a cursor inside it resets,
    // as it does from the file.
    const batch = await a.append(['1', '2', '3', '4', '5'].map((data) => ({ topic: 't', data })))
    expect(await all(a, batch[0]?.id as string)).toBe('expired')
    expect(await all(a, batch[2]?.id as string)).toEqual(['4', '5'])
    await a.close()
    await b.close()
  })

  it('reads its own last appends as the file reads them while retention deletes older events', async () => {
    const file = join(dir, 'recent-at-retention.db')
    const retention = { maxEvents: 4, topics: [{ pattern: 'books/**', maxEvents: 1 }] }
    const a = createSqliteEventStore({ path: file, retention })
    // b never appends: it reads every page from the file.
    const b = createSqliteEventStore({ path: file, retention })
    const page = async (store: EventStore, cursor: string) => {
      const read = await store.read(cursor, { topics: ['**'], limit: 100 })
      return read.kind === 'events' ? read.events.map((e) => e.data) : read.reason
    }
    const cursors: string[] = []
    for (let i = 0; i < 12; i++) {
      // Every third publish is a book: the topic rule deletes the one before it, mid-log.
      const topic = i % 3 === 2 ? `books/${i}` : 't'
      const [event] = await a.append([{ topic, data: String(i) }])
      cursors.push(event?.id as string)
      for (const cursor of cursors) expect(await page(a, cursor)).toEqual(await page(b, cursor))
    }
    // The last appends are the tail (read from a's own buffer); an old cursor still resets.
    expect(await page(a, cursors.at(-2) as string)).toEqual(['11'])
    expect(await page(a, cursors[0] as string)).toBe('expired')
    await a.close()
    await b.close()
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
