/**
 * The on-disk schema, versioned: `herald_meta.schema_version` says which layout the file
 * holds. Tables carry their version in their name (`events_v2`), so a new layout is written
 * next to the old one and copied over in ONE transaction: a migration either completes or
 * leaves the file as it was.
 *
 * v4 (this build): the v3 tables, with the write path made cheaper:
 * - `events_v2_client_id_v4`: update ids (`client_id`) indexed only where the publisher gave
 *   one (a partial index): an event without one costs no index entry. v2 and v3 indexed
 *   every row (NULLs included) under `events_v2_client_id`.
 * - `herald_meta.log_id`: the log's random identity (15 hex digits). Events appended without
 *   an update id store none (`client_id` NULL): theirs is derived from `log_id` and the
 *   sequence number when read (see `@herald/store` `update-id.ts`). v2 and v3 stored a random one per event,
 *   in the index, where every insert landed on a random page.
 * - No `published_at` index: times grow with ids (each batch takes `max(now, newest time)`
 *   under the write lock), so the age bound is found by walking the oldest rows, the ones it
 *   deletes.
 * - `herald_meta.last_id` and `last_time` are FLOORS, written only when retention deletes
 *   events: the newest id is `max(max(id), last_id)`, read under the write lock. v2 and v3
 *   wrote both on every append (a page of the file rewritten per commit), which is why an
 *   older build must not open a v4 file: it would take the stale `last_id` for the counter.
 * - `herald_meta.pruned_through` is the newest id DELETED hub-wide; since 2026-12-06 the
 *   count bound deletes in chunks (`pruneChunk`) and readers hide the ids up to
 *   `max(pruned_through, newest id - maxEvents)`. Same tables, so no new version: a v4 build
 *   from before shows the rows of a pending chunk until they are deleted.
 *
 * v3: v2, plus (additive, nothing copied)
 * - `events_v2.schema_version`: the registry schema version an event was validated against,
 *   or NULL;
 * - `schemas_v3 (topic, version, schema, compatibility, registered_at)`: the schema
 *   registry, one row per version of a topic pattern.
 *
 * v2:
 * - `events_v2`: the log; `topic` is the canonical topic, `alternates` a JSON array of the
 *   others (Mercure multi-topic updates) or NULL.
 * - `alternates_v2 (topic, event_id)`: the per-topic index of alternates, so a read by topic
 *   finds an event through any of its topics.
 * - `topics_v2`: every topic ever appended (canonical or alternate): patterns are resolved
 *   against it first, so a replay costs what it matches, not the size of the log.
 * - `pruned_topics_v2`: per-topic retention watermarks.
 * - `herald_meta`: `schema_version`, `last_id` (the id counter, kept current by every
 *   append: several processes share it), `last_time`, `pruned_through`.
 *
 * v1 (0.1): `events_v1` without alternates, no topics table; `last_id` only written when
 * retention deleted rows. Migrated automatically on open.
 */
import { randomBytes } from 'node:crypto'
import { HeraldError } from '@herald/protocol'
import { newLogId } from '@herald/store'
import type Database from 'better-sqlite3'

/** Schema version this build writes and reads. */
export const SCHEMA_VERSION = 4

const V2 = `
CREATE TABLE events_v2 (
  id INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  alternates TEXT,
  type TEXT,
  data TEXT NOT NULL,
  client_id TEXT,
  retry INTEGER,
  private INTEGER NOT NULL DEFAULT 0,
  published_at INTEGER NOT NULL
);
CREATE INDEX events_v2_topic ON events_v2 (topic, id);
CREATE INDEX events_v2_published_at ON events_v2 (published_at);
CREATE TABLE alternates_v2 (
  topic TEXT NOT NULL,
  event_id INTEGER NOT NULL,
  PRIMARY KEY (topic, event_id)
) WITHOUT ROWID;
CREATE INDEX alternates_v2_event ON alternates_v2 (event_id);
CREATE TABLE topics_v2 (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE pruned_topics_v2 (
  topic TEXT PRIMARY KEY,
  through INTEGER NOT NULL
);
`

/** v2 -> v3: additive (a nullable column, a new table), so no row is copied. */
const V2_TO_V3 = `
ALTER TABLE events_v2 ADD COLUMN schema_version INTEGER;
CREATE TABLE schemas_v3 (
  topic TEXT NOT NULL,
  version INTEGER NOT NULL,
  schema TEXT NOT NULL,
  compatibility TEXT NOT NULL,
  registered_at INTEGER NOT NULL,
  PRIMARY KEY (topic, version)
) WITHOUT ROWID;
`

/**
 * v3 -> v4 (and the v4 indexes of a new file): the partial update-id index, no time index.
 * Update ids resolve to cursors (Mercure resumes from them) and must stay unique: an index,
 * not a UNIQUE constraint, because older files may already hold repeats (a resume then takes
 * the earliest, as Mercure specifies); the append path refuses new repeats. v3's
 * `last_id`/`last_time` were current, so they are valid floors as they stand.
 */
const V3_TO_V4 = `
DROP INDEX IF EXISTS events_v2_client_id;
DROP INDEX IF EXISTS events_v2_published_at;
CREATE INDEX events_v2_client_id_v4 ON events_v2 (client_id) WHERE client_id IS NOT NULL;
`

/** v1 -> v2: copy the log, index its topics, carry the counters over, drop the v1 tables. */
const V1_TO_V2 = `
INSERT INTO events_v2 (id, topic, alternates, type, data, client_id, retry, private, published_at)
  SELECT id, topic, NULL, type, data, client_id, retry, private, published_at FROM events_v1;
INSERT OR IGNORE INTO topics_v2 (name) SELECT DISTINCT topic FROM events_v1 ORDER BY topic;
INSERT OR IGNORE INTO topics_v2 (name) SELECT topic FROM pruned_topics_v1 ORDER BY topic;
INSERT INTO pruned_topics_v2 (topic, through) SELECT topic, through FROM pruned_topics_v1;
INSERT INTO herald_meta (key, value)
  VALUES ('last_id', (SELECT max(coalesce((SELECT CAST(value AS INTEGER) FROM herald_meta WHERE key = 'last_id'), 0), coalesce((SELECT max(id) FROM events_v1), 0))))
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
INSERT INTO herald_meta (key, value)
  VALUES ('last_time', (SELECT max(coalesce((SELECT CAST(value AS INTEGER) FROM herald_meta WHERE key = 'last_time'), 0), coalesce((SELECT max(published_at) FROM events_v1), 0))))
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
DROP TABLE events_v1;
DROP TABLE pruned_topics_v1;
`

/**
 * Brings `db` to {@link SCHEMA_VERSION}, migrating older Herald files in one transaction.
 * Returns the version the file had (0: new file).
 *
 * @throws {HeraldError} `HERALD_STORE_SCHEMA_MISMATCH` when the file is newer than this
 * build or holds tables that are not Herald's.
 */
export function migrate(db: Database.Database): number {
  return db
    .transaction((): number => {
      db.exec('CREATE TABLE IF NOT EXISTS herald_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
      const row = db
        .prepare<[], { value: string }>(
          "SELECT value FROM herald_meta WHERE key = 'schema_version'",
        )
        .get()
      const version = row === undefined ? 0 : Number(row.value)
      if (!Number.isInteger(version) || version < 0 || version > SCHEMA_VERSION) {
        throw new HeraldError(
          'HERALD_STORE_SCHEMA_MISMATCH',
          `the SQLite file has schema version ${row?.value}; this Herald reads up to ${SCHEMA_VERSION}: upgrade Herald or use another file`,
        )
      }
      if (version === SCHEMA_VERSION) return version
      if (version === 0) {
        const foreign = db
          .prepare<[], { name: string }>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('events_v1', 'events_v2')",
          )
          .get()
        if (foreign !== undefined) {
          throw new HeraldError(
            'HERALD_STORE_SCHEMA_MISMATCH',
            `the SQLite file has an ${foreign.name} table but no Herald schema version: not a Herald database`,
          )
        }
      }
      if (version < 2) {
        db.exec(V2)
        if (version === 1) db.exec(V1_TO_V2)
      }
      if (version < 3) db.exec(V2_TO_V3)
      db.exec(V3_TO_V4)
      db.prepare("INSERT OR IGNORE INTO herald_meta (key, value) VALUES ('log_id', ?)").run(
        newLogId(randomBytes(8)),
      )
      db.prepare(
        "INSERT INTO herald_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ).run(String(SCHEMA_VERSION))
      return version
    })
    .immediate()
}
