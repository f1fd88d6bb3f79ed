import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isHeraldError } from '@herald/protocol'
import { runEventStoreContract } from '@herald/store/contract'
import { createSqliteEventStore } from '@herald/store-sqlite'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
let path = ''

runEventStoreContract('sqlite', {
  create(options) {
    path = join(dir, `contract-${n++}`, 'herald.db')
    return createSqliteEventStore({ path, ...options })
  },
  reopen: (options) => createSqliteEventStore({ path, ...options }),
})

describe('SQLite store specifics', () => {
  it('writes a versioned schema: events_v1 and herald_meta.schema_version = 1', async () => {
    const file = join(dir, 'schema.db')
    const store = createSqliteEventStore({ path: file })
    await store.append([{ topic: 't', data: 'x' }])
    await store.close()
    const db = new Database(file, { readonly: true })
    const version = db.prepare("SELECT value FROM herald_meta WHERE key = 'schema_version'").get()
    const rows = db.prepare('SELECT topic, data FROM events_v1').all()
    db.close()
    expect(version).toEqual({ value: '1' })
    expect(rows).toEqual([{ topic: 't', data: 'x' }])
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

  it('refuses a second hub on the same file (exclusive lock)', async () => {
    const file = join(dir, 'locked.db')
    const first = createSqliteEventStore({ path: file })
    await first.append([{ topic: 't', data: 'x' }])
    let error: unknown
    try {
      createSqliteEventStore({ path: file })
    } catch (e) {
      error = e
    }
    await first.close()
    expect(isHeraldError(error, 'HERALD_STORE_UNAVAILABLE')).toBe(true)
    expect((error as Error).message).toMatch(/in use by another process/)
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
})
