/**
 * The SQLite {@link SchemaStore}: one row per version in `schemas_v3`, in the log's file, so
 * every process on the file shares it and it survives restarts. A registration is a
 * compare-and-set inside one IMMEDIATE transaction (the file's write lock).
 */
import { HeraldError } from '@herald/protocol'
import type { SchemaCompatibility, SchemaStore, SchemaVersion } from '@herald/store'
import { schemaConflict } from '@herald/store'
import type Database from 'better-sqlite3'

interface SchemaRow {
  topic: string
  version: number
  schema: string
  compatibility: string
  registered_at: number
}

function toVersion(row: SchemaRow): SchemaVersion {
  return {
    topic: row.topic,
    version: row.version,
    schema: row.schema,
    compatibility: row.compatibility as SchemaCompatibility,
    registeredAt: row.registered_at,
  }
}

/**
 * @internal What the schema store and the event store's appends know of the revision:
 * `known`, the last one learned (a read, a registration, an append's check); `at`, the
 * `PRAGMA data_version` under which an append's write transaction read it (still true while
 * the version reads the same and this connection registered nothing since), else undefined.
 */
export interface SchemaRevisionState {
  known: number | undefined
  at: number | undefined
}

/** @internal Creates the schema store over an open, migrated database. */
export function createSqliteSchemaStore(
  db: Database.Database,
  options: { now: () => number; assertOpen: () => void; revision: SchemaRevisionState },
): SchemaStore {
  const { revision } = options
  const latest = db
    .prepare<[string], number | null>('SELECT max(version) FROM schemas_v3 WHERE topic = ?')
    .pluck()
  const insert = db.prepare<[string, number, string, string, number]>(
    'INSERT INTO schemas_v3 (topic, version, schema, compatibility, registered_at) VALUES (?, ?, ?, ?, ?)',
  )
  const all = db.prepare<[], SchemaRow>(
    'SELECT * FROM schemas_v3 ORDER BY topic COLLATE BINARY, version',
  )
  const count = db.prepare<[], number>('SELECT count(*) FROM schemas_v3').pluck()
  const register = db.transaction(
    (topic: string, schema: string, compatibility: string, previous: number, at: number) => {
      const found = latest.get(topic) ?? 0
      if (found !== previous) throw schemaConflict(topic, previous, found)
      insert.run(topic, previous + 1, schema, compatibility, at)
    },
  )
  function guard<T>(what: string, fn: () => T): T {
    options.assertOpen()
    try {
      return fn()
    } catch (error) {
      if (error instanceof HeraldError) throw error
      throw new HeraldError(
        'HERALD_STORE_UNAVAILABLE',
        `SQLite ${what} failed: ${(error as Error).message}`,
        { status: 503, cause: error },
      )
    }
  }
  return {
    async registerSchema(registration, previous) {
      const registeredAt = options.now()
      guard('schema registration', () =>
        register.immediate(
          registration.topic,
          registration.schema,
          registration.compatibility,
          previous,
          registeredAt,
        ),
      )
      // This connection's own commit does not move data_version: forget the append's read.
      revision.known = previous + 1
      revision.at = undefined
      return { ...registration, version: previous + 1, registeredAt }
    },
    async listSchemas() {
      return guard('schema read', () => all.all().map(toVersion))
    },
    async schemaRevision() {
      return guard('schema read', () => {
        revision.known = count.get() as number
        return revision.known
      })
    },
    // better-sqlite3 reads synchronously: the hub validates a publish without a promise.
    schemaRevisionNow() {
      return guard('schema read', () => {
        revision.known = count.get() as number
        return revision.known
      })
    },
    // Appends check the revision in their write transaction (sqlite-store.ts): the hub
    // validates against its cache of this revision without a read per publish.
    knownSchemaRevision() {
      return revision.known
    },
  }
}
