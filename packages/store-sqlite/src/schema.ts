/**
 * The on-disk schema, versioned: `herald_meta.schema_version` says which migrations ran.
 * Tables carry their version in their name (`events_v1`), so a future layout can be
 * written next to the old one and copied over in one transaction.
 */
import { HeraldError } from '@herald/protocol'
import type Database from 'better-sqlite3'

/** Schema version this build writes and reads. */
export const SCHEMA_VERSION = 1

const V1 = `
CREATE TABLE events_v1 (
  id INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  type TEXT,
  data TEXT NOT NULL,
  client_id TEXT,
  retry INTEGER,
  private INTEGER NOT NULL DEFAULT 0,
  published_at INTEGER NOT NULL
);
CREATE INDEX events_v1_topic ON events_v1 (topic, id);
CREATE INDEX events_v1_published_at ON events_v1 (published_at);
CREATE TABLE pruned_topics_v1 (
  topic TEXT PRIMARY KEY,
  through INTEGER NOT NULL
);
`

/**
 * Brings `db` to {@link SCHEMA_VERSION}.
 *
 * @throws {HeraldError} `HERALD_STORE_SCHEMA_MISMATCH` when the file is newer than this
 * build or holds tables that are not Herald's.
 */
export function migrate(db: Database.Database): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS herald_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
    const row = db
      .prepare<[], { value: string }>("SELECT value FROM herald_meta WHERE key = 'schema_version'")
      .get()
    const version = row === undefined ? 0 : Number(row.value)
    if (!Number.isInteger(version) || version > SCHEMA_VERSION) {
      throw new HeraldError(
        'HERALD_STORE_SCHEMA_MISMATCH',
        `the SQLite file has schema version ${row?.value}; this Herald reads up to ${SCHEMA_VERSION}: upgrade Herald or use another file`,
      )
    }
    if (version === 0) {
      const foreign = db
        .prepare<[], { name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events_v1'",
        )
        .get()
      if (foreign !== undefined) {
        throw new HeraldError(
          'HERALD_STORE_SCHEMA_MISMATCH',
          'the SQLite file has an events_v1 table but no Herald schema version: not a Herald database',
        )
      }
      db.exec(V1)
      db.prepare("INSERT INTO herald_meta (key, value) VALUES ('schema_version', ?)").run(
        String(SCHEMA_VERSION),
      )
    }
  }).immediate()
}
