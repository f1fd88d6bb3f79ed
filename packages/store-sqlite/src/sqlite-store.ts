/**
 * The embedded event log: one SQLite file (better-sqlite3, WAL). Appends made in the same
 * turn of the event loop are written in ONE transaction, so the fsync cost is shared by
 * every publish of that turn.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { HeraldError } from '@herald/protocol'
import type {
  AppendInput,
  EventStore,
  ReadFilter,
  ReadResult,
  RetentionOptions,
  StoredEvent,
} from '@herald/store'
import {
  checkSequenceCursor,
  createTopicMatcher,
  createWakeSignal,
  formatSequenceCursor,
  isTopicPattern,
  NO_ALTERNATES,
  resolveRetention,
  SEQUENCE_CURSORS,
  toStoredEvent,
} from '@herald/store'
import Database from 'better-sqlite3'
import { migrate } from './schema.js'

/** Options of {@link createSqliteEventStore}. */
export interface SqliteEventStoreOptions {
  /** Database file; created with its directory if missing. `:memory:` for a throwaway log. */
  path: string
  /** Retention; defaults to 1 000 000 events and 7 days. */
  retention?: RetentionOptions | undefined
  /** Clock, for tests. Defaults to `Date.now`. */
  now?: (() => number) | undefined
  /** `synchronous` pragma: `normal` (default; durable across process crashes, WAL) or `full`. */
  synchronous?: 'normal' | 'full' | undefined
  /** How often to apply age-based retention, in milliseconds (default 1000). */
  pruneIntervalMs?: number | undefined
}

/** Default hub-wide retention of the SQLite store. */
export const SQLITE_STORE_DEFAULT_RETENTION = { maxEvents: 1_000_000, maxAgeMs: 7 * 24 * 3600_000 }

interface Row {
  id: number
  topic: string
  type: string | null
  data: string
  client_id: string | null
  retry: number | null
  private: number
  published_at: number
}

interface Pending {
  inputs: readonly AppendInput[]
  resolve(events: StoredEvent[]): void
  reject(error: unknown): void
}

function toEvent(row: Row): StoredEvent {
  return {
    id: formatSequenceCursor(row.id),
    topic: row.topic,
    alternates: NO_ALTERNATES,
    data: row.data,
    type: row.type ?? undefined,
    clientId: row.client_id ?? undefined,
    retry: row.retry ?? undefined,
    private: row.private === 1,
    publishedAt: row.published_at,
  }
}

// GLOB, not LIKE: LIKE is case-insensitive and treats `_` and `%` as wildcards. Every
// character GLOB gives meaning to is escaped in a bracket expression.
function globLiteral(segment: string): string {
  return segment.replace(/[*?[]/g, (c) => `[${c}]`)
}

/** SQL narrowing one pattern (the matcher re-checks rows in JS, so this only has to be a superset). */
function patternClause(pattern: string, params: unknown[]): string {
  const segments = pattern.split('/')
  const deep = segments.at(-1) === '**'
  const glob = segments.map((s) => (s === '*' || s === '**' ? '*' : globLiteral(s))).join('/')
  params.push(glob, segments.length - 1)
  const slashes = "(length(topic) - length(replace(topic, '/', '')))"
  return `(+topic GLOB ? AND ${slashes} ${deep ? '>=' : '='} ?)`
}

function openError(path: string, error: unknown): HeraldError {
  const message = (error as Error).message
  return new HeraldError(
    'HERALD_STORE_UNAVAILABLE',
    /locked|busy/i.test(message)
      ? `SQLite event log ${path} is in use by another process (one hub per file)`
      : `cannot open SQLite event log ${path}: ${message}`,
    { status: 503, cause: error },
  )
}

function openDatabase(path: string, synchronous: 'normal' | 'full'): Database.Database {
  let db: Database.Database | undefined
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    db = new Database(path, { timeout: 250 })
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
    db.pragma('locking_mode = EXCLUSIVE')
    // The first write takes the exclusive lock, held until close: one hub per file.
    migrate(db)
    return db
  } catch (error) {
    db?.close()
    if (error instanceof HeraldError) throw error
    throw openError(path, error)
  }
}

function topicClause(pattern: string, params: unknown[]): string {
  if (isTopicPattern(pattern)) return patternClause(pattern, params)
  params.push(pattern)
  return '(topic = ?)'
}

/**
 * Opens (or creates) a SQLite {@link EventStore}. The file holds table `events_v1` and a
 * `herald_meta` table with the schema version and the id counter, so ids are never reused
 * across restarts, even after retention deleted every event. The database is opened in
 * exclusive locking mode: one hub process per file.
 *
 * @throws {HeraldError} `HERALD_STORE_SCHEMA_MISMATCH` for a file from a newer Herald or
 * not written by Herald, `HERALD_STORE_UNAVAILABLE` when it cannot be opened.
 */
export function createSqliteEventStore(options: SqliteEventStoreOptions): EventStore {
  if (typeof options?.path !== 'string' || options.path === '') {
    throw new TypeError('createSqliteEventStore: options.path must be a non-empty string')
  }
  const policy = resolveRetention(options.retention, SQLITE_STORE_DEFAULT_RETENTION)
  const now = options.now ?? Date.now
  const pruneIntervalMs = options.pruneIntervalMs ?? 1000

  const db = openDatabase(options.path, options.synchronous ?? 'normal')

  const readMeta = db.prepare<[string], { value: string }>(
    'SELECT value FROM herald_meta WHERE key = ?',
  )
  const writeMeta = db.prepare<[string, string]>(
    'INSERT INTO herald_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  )
  const meta = (key: string): number => Number(readMeta.get(key)?.value ?? 0)
  const newestRow = db.prepare<[], { id: number; published_at: number }>(
    'SELECT id, published_at FROM events_v1 ORDER BY id DESC LIMIT 1',
  )
  const oldestRow = db.prepare<[], { id: number; published_at: number }>(
    'SELECT id, published_at FROM events_v1 ORDER BY id LIMIT 1',
  )
  // The id counter is the newest row, or the meta value written when retention deleted
  // rows (the newest row may be gone then): never an id below one already issued.
  const newest = newestRow.get()
  let lastSeq = Math.max(meta('last_id'), newest?.id ?? 0)
  let lastTime = Math.max(meta('last_time'), newest?.published_at ?? 0)
  let prunedThrough = meta('pruned_through')
  // Lets every append check age retention without a query.
  let oldestTime = oldestRow.get()?.published_at

  const insert = db.prepare(
    'INSERT INTO events_v1 (id, topic, type, data, client_id, retry, private, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  )
  const oldest = db.prepare<[], { id: number }>('SELECT id FROM events_v1 ORDER BY id LIMIT 1')
  const count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM events_v1')
  const countDeleteHead = db.prepare<[number], { id: number }>(
    'SELECT id FROM events_v1 ORDER BY id LIMIT 1 OFFSET ?',
  )
  const deleteThrough = db.prepare<[number]>('DELETE FROM events_v1 WHERE id <= ?')
  const lastBefore = db.prepare<[number], { id: number }>(
    'SELECT max(id) AS id FROM events_v1 WHERE published_at < ?',
  )
  // Raw rows: [topic, through] pairs, as checkSequenceCursor takes them.
  const topicPruned = db
    .prepare<[], [topic: string, through: number]>('SELECT topic, through FROM pruned_topics_v1')
    .raw(true)
  const markTopicPruned = db.prepare<[string, number]>(
    'INSERT INTO pruned_topics_v1 (topic, through) VALUES (?, ?) ON CONFLICT (topic) DO UPDATE SET through = max(through, excluded.through)',
  )
  const rules = policy.topics.map((rule) => {
    const params: unknown[] = []
    const where = topicClause(rule.pattern, params)
    return {
      rule,
      params,
      // Rows of this rule to delete: beyond its newest maxEvents, or older than its age.
      select: db.prepare<unknown[], { id: number; topic: string }>(
        `SELECT id, topic FROM events_v1 WHERE ${where} AND (published_at < ? OR id <= coalesce((SELECT id FROM events_v1 WHERE ${where} ORDER BY id DESC LIMIT 1 OFFSET ?), -1)) ORDER BY id`,
      ),
    }
  })
  const deleteOne = db.prepare<[number]>('DELETE FROM events_v1 WHERE id = ?')

  // Reads are shaped by the subscription's topics: cache their statements (bounded).
  const statements = new Map<string, Database.Statement<unknown[], Row>>()
  function statement(sql: string): Database.Statement<unknown[], Row> {
    let stmt = statements.get(sql)
    if (stmt === undefined) {
      if (statements.size >= 256) statements.clear()
      stmt = db.prepare<unknown[], Row>(sql)
      statements.set(sql, stmt)
    }
    return stmt
  }

  // Count kept in memory: `count(*)` per append would scan the table.
  let rowCount = count.get()?.n ?? 0
  let closed = false
  const wakes = createWakeSignal()
  let pending: Pending[] = []
  let flushScheduled = false

  const ageRules = rules.some(({ rule }) => rule.maxAgeMs !== Number.POSITIVE_INFINITY)

  function ageDue(t: number): boolean {
    return (
      ageRules ||
      (policy.maxAgeMs !== Number.POSITIVE_INFINITY &&
        oldestTime !== undefined &&
        oldestTime < t - policy.maxAgeMs)
    )
  }

  /** Applies retention inside the caller's transaction. `seq`: the newest id issued. */
  function pruneIn(t: number, seq: number): void {
    let through = 0
    let deleted = 0
    if (rowCount > policy.maxEvents) {
      through = countDeleteHead.get(rowCount - policy.maxEvents - 1)?.id ?? 0
    }
    if (
      policy.maxAgeMs !== Number.POSITIVE_INFINITY &&
      oldestTime !== undefined &&
      oldestTime < t - policy.maxAgeMs
    ) {
      through = Math.max(through, lastBefore.get(t - policy.maxAgeMs)?.id ?? 0)
    }
    if (through > 0) {
      deleted += deleteThrough.run(through).changes
      if (through > prunedThrough) {
        prunedThrough = through
        writeMeta.run('pruned_through', String(through))
      }
    }
    for (const { rule, params, select } of rules) {
      const cutoff = rule.maxAgeMs === Number.POSITIVE_INFINITY ? -1 : t - rule.maxAgeMs
      const offset =
        rule.maxEvents === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : rule.maxEvents
      for (const victim of select.all(...params, cutoff, ...params, offset)) {
        deleted += deleteOne.run(victim.id).changes
        markTopicPruned.run(victim.topic, victim.id)
      }
    }
    if (deleted > 0) {
      rowCount -= deleted
      // The newest rows may be among the deleted: keep the counter in the file.
      writeMeta.run('last_id', String(seq))
      writeMeta.run('last_time', String(t))
      oldestTime = oldestRow.get()?.published_at
    }
  }

  const prune = db.transaction((t: number) => pruneIn(t, lastSeq))

  const writeBatch = db.transaction((batch: Pending[]): StoredEvent[][] => {
    const t = Math.max(now(), lastTime)
    const out: StoredEvent[][] = []
    let seq = lastSeq
    for (const item of batch) {
      const events: StoredEvent[] = []
      for (const input of item.inputs) {
        seq++
        insert.run(
          seq,
          input.topic,
          input.type ?? null,
          input.data,
          input.clientId ?? null,
          input.retry ?? null,
          input.private === true ? 1 : 0,
          t,
        )
        events.push(toStoredEvent(input, seq, t))
      }
      out.push(events)
    }
    rowCount += seq - lastSeq
    oldestTime ??= t
    pruneIn(t, seq)
    // Only after every statement succeeded: a rolled-back transaction must not burn ids
    // in memory that the file does not know about (they would be reissued, not reused).
    lastSeq = seq
    lastTime = t
    return out
  })

  function flush(): void {
    flushScheduled = false
    const batch = pending
    pending = []
    if (batch.length === 0) return
    try {
      const results = writeBatch(batch)
      for (let i = 0; i < batch.length; i++)
        (batch[i] as Pending).resolve(results[i] as StoredEvent[])
      wakes.wake()
    } catch (error) {
      const failure = new HeraldError(
        'HERALD_STORE_UNAVAILABLE',
        `SQLite append failed: ${(error as Error).message}`,
        { status: 503, cause: error },
      )
      for (const item of batch) item.reject(failure)
      // The transaction rolled back: re-read what the file says.
      rowCount = count.get()?.n ?? 0
      prunedThrough = meta('pruned_through')
      oldestTime = oldestRow.get()?.published_at
    }
  }

  function assertOpen(): void {
    if (closed)
      throw new HeraldError('HERALD_STORE_CLOSED', 'the event store is closed', { status: 503 })
  }

  function bounds(): { oldestId: string | undefined; latestId: string | undefined } {
    const first = oldest.get()
    return {
      oldestId: first === undefined ? undefined : formatSequenceCursor(first.id),
      latestId: lastSeq === 0 ? undefined : formatSequenceCursor(lastSeq),
    }
  }

  const timer =
    pruneIntervalMs > 0 && (policy.maxAgeMs !== Number.POSITIVE_INFINITY || ageRules)
      ? setInterval(() => {
          if (!closed && ageDue(now())) prune(now())
        }, pruneIntervalMs)
      : undefined
  timer?.unref()

  return {
    cursors: SEQUENCE_CURSORS,

    append(inputs) {
      try {
        assertOpen()
      } catch (error) {
        return Promise.reject(error)
      }
      if (inputs.length === 0) return Promise.resolve([])
      return new Promise<StoredEvent[]>((resolve, reject) => {
        pending.push({ inputs, resolve, reject })
        if (!flushScheduled) {
          flushScheduled = true
          // One transaction for everything appended during this turn of the event loop.
          setImmediate(flush)
        }
      })
    },

    async read(cursor: string | undefined, filter: ReadFilter): Promise<ReadResult> {
      assertOpen()
      const t = Math.max(now(), lastTime)
      if (ageDue(t)) prune(t)
      const matcher = createTopicMatcher(filter.topics)
      let after = 0
      if (cursor !== undefined) {
        const seq = checkSequenceCursor(cursor, lastSeq, prunedThrough, topicPruned.all(), matcher)
        if (typeof seq === 'string') return { kind: 'reset', reason: seq, ...bounds() }
        after = seq
      }
      const params: unknown[] = [after]
      const clauses: string[] = []
      const exact = filter.topics.filter((t) => !isTopicPattern(t))
      const single = filter.topics.length === 1 && exact.length === 1
      // One exact topic: walk the (topic, id) index, already in id order. Anything else:
      // walk the rowid from the cursor and filter (`+topic` keeps the planner off the topic
      // index, which would collect and sort EVERY matching row after the cursor for each
      // page: quadratic over a long replay). Each page then costs the rows it passes over.
      const column = single ? 'topic' : '+topic'
      if (exact.length > 0) {
        clauses.push(`${column} IN (${exact.map(() => '?').join(', ')})`)
        params.push(...exact)
      }
      for (const pattern of filter.topics) {
        if (pattern === '**') clauses.push('1')
        else if (isTopicPattern(pattern)) clauses.push(patternClause(pattern, params))
      }
      const limit = Math.max(1, filter.limit)
      params.push(limit + 1)
      const rows = statement(
        `SELECT * FROM events_v1 WHERE id > ? AND (${clauses.join(' OR ') || '0'}) ORDER BY id LIMIT ?`,
      ).all(...params)
      const events: StoredEvent[] = []
      for (const row of rows) {
        if (!matcher.matches(row.topic)) continue
        if (events.length === limit) {
          return { kind: 'events', events, cursor: events.at(-1)?.id, more: true }
        }
        events.push(toEvent(row))
      }
      // The read reached the end of the log: continue after its newest id.
      return {
        kind: 'events',
        events,
        cursor: lastSeq > after ? formatSequenceCursor(lastSeq) : cursor,
        more: false,
      }
    },

    watch(signal) {
      return wakes.watch(signal)
    },

    async health() {
      assertOpen()
      try {
        return { ok: true, ...bounds() }
      } catch (error) {
        return { ok: false, reason: `SQLite: ${(error as Error).message}` }
      }
    },

    async close() {
      if (closed) return
      flush()
      closed = true
      wakes.close()
      if (timer !== undefined) clearInterval(timer)
      db.close()
    },
  }
}
