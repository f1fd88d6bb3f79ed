/**
 * The log boundary of the hub. An {@link EventStore} keeps ONE append-only, retention-bounded
 * log with one monotonic cursor per hub (so a single `Last-Event-ID` resumes a subscription
 * to many topics exactly), pages through it, and wakes the node's single tail reader when
 * it grows. Memory, SQLite, Redis and NATS implementations sit behind it and run the same
 * contract suite (`@herald/store/contract`).
 *
 * How the hub uses it (what an implementer must make true):
 * - `append` assigns ids; once it resolves, `read` from any instance on the same backend
 *   returns the events. The log is the only source of order: every node follows it with
 *   {@link tailLog} (one reader per node, never one per client), so two nodes appending
 *   concurrently cannot make a subscriber skip an id.
 * - `watch` only WAKES that reader; what is delivered, and in what order, comes from `read`.
 * - Replay after `Last-Event-ID` calls `read` page by page with the subscription's topics,
 *   following `page.cursor` while `page.more`.
 */
import type { BlobStore } from './blob-store.js'
import type { CursorOrder, ResetReason } from './cursor.js'
import type { AppendInput, StoredEvent } from './events.js'
import type { SchemaStore } from './schema-store.js'

/** Which events a read returns. */
export interface ReadFilter {
  /**
   * Topic patterns (see `topic.ts`); an event whose canonical topic or any alternate
   * matches one of them is returned, once.
   */
  topics: readonly string[]
  /** Most events to return in one page (at least 1). */
  limit: number
}

/** A page of events read after a cursor. */
export interface ReadPage {
  readonly kind: 'events'
  /** Matching events with an id greater than the cursor, in id order, at most `limit`. */
  readonly events: readonly StoredEvent[]
  /**
   * Where to continue: the next read goes after this cursor. It is the last event's id, or
   * further when the store scanned past entries that did not match (a store that filters
   * may return `events: []` with `more: true`: "nothing matched up to here, go on"). It is
   * the cursor passed in (`undefined` included) when nothing was scanned.
   */
  readonly cursor: string | undefined
  /**
   * `true` when the store stopped early (limit reached, or its scan budget spent) and more
   * matching events may follow `cursor` right now. `false` only when the read reached the
   * end of the log: a replay must never stop on a page with `more: true`.
   */
  readonly more: boolean
}

/** The answer to a read whose cursor cannot be resumed without a gap. */
export interface ReadReset {
  readonly kind: 'reset'
  /** Why. */
  readonly reason: ResetReason
  /** The oldest id still in the log, or `undefined` when the log is empty. */
  readonly oldestId: string | undefined
  /** The newest id issued, or `undefined` when none was. Live delivery resumes after it. */
  readonly latestId: string | undefined
}

/** The result of {@link EventStore.read}. */
export type ReadResult = ReadPage | ReadReset

/** What {@link EventStore.health} reports (`/readyz`, the tail's outage handling). */
export type StoreHealth =
  | {
      readonly ok: true
      /** Oldest id in the log, or `undefined` when empty. */
      readonly oldestId: string | undefined
      /** Newest id ever issued (it may already be deleted), or `undefined` when none was. */
      readonly latestId: string | undefined
    }
  | {
      readonly ok: false
      /** Why the backend cannot serve (for logs and `/readyz`; no secrets). */
      readonly reason: string
    }

/**
 * An append-only, retention-bounded event log with ONE monotonic cursor for the whole hub.
 * Several instances may share one backend (nodes of a cluster, workers of one machine):
 * ids are then unique and ordered across all of them.
 */
export interface EventStore {
  /**
   * Appends the events atomically (all or none: a failed batch leaves nothing visible, and
   * no reader ever sees part of a batch) and resolves to them with their assigned ids, in
   * order; one batch's ids are contiguous in the log order. Once it resolves, {@link read}
   * on every instance of the backend returns them, and their {@link watch}es wake.
   *
   * @throws {HeraldError} `HERALD_STORE_UNAVAILABLE` (backend down), `HERALD_STORE_CLOSED`.
   */
  append(events: readonly AppendInput[]): Promise<StoredEvent[]>
  /**
   * Reads matching events with an id greater than `cursor` (from the oldest when `undefined`),
   * or a reset when events after `cursor` were lost to retention or `cursor` was never issued
   * (see {@link ReadReset}). Follow `page.cursor` while `page.more`. The cost of a page
   * should follow what matches, not the size of the log: a store that scans bounds each page
   * and answers `more: true` with the position it reached.
   *
   * @throws {HeraldError} `HERALD_STORE_UNAVAILABLE`, `HERALD_STORE_CLOSED`.
   */
  read(cursor: string | undefined, filter: ReadFilter): Promise<ReadResult>
  /**
   * Wakes a tail reader: yields each time the log may have grown since the previous yield,
   * on this instance or any other on the backend (through the backend's own notification,
   * a blocking read, or polling: the store documents its delay). Wakeups coalesce, and may
   * be spurious: the reader always asks {@link read} what is new. The subscription starts
   * when `watch` is CALLED (an append between the call and the first `next()` still wakes
   * it). Ends when `signal` aborts or the store closes; it may throw when the backend fails
   * (the tail then pauses, checks {@link health} and watches again).
   */
  watch(signal: AbortSignal): AsyncIterable<void>
  /**
   * Whether the backend answers, with the oldest and newest ids. Resolves `{ ok: false }`
   * rather than rejecting when the backend is down, and promptly (the hub gives up after
   * 2 s anyway). Rejects with `HERALD_STORE_CLOSED` after {@link close}.
   */
  health(): Promise<StoreHealth>
  /** Flushes pending appends, ends every `watch` and releases resources. Later calls reject. */
  close(): Promise<void>
  /** The order of this store's cursors (fixed-width stores use `SEQUENCE_CURSORS`). */
  readonly cursors: CursorOrder
  /**
   * The cursor of the retained event whose publisher id (`clientId`) is `clientId`, or
   * `undefined`. A store that implements it also refuses, in {@link append}, an event whose
   * `clientId` a retained event (or another event of the batch) already has, with
   * `HERALD_DUPLICATE_EVENT_ID` (409) and nothing appended: update ids are then unique per
   * hub, and Mercure subscribers resume from them. Optional: without it, the Mercure endpoint
   * resumes only from `earliest`.
   *
   * @throws {HeraldError} `HERALD_STORE_UNAVAILABLE`, `HERALD_STORE_CLOSED`.
   */
  findCursor?(clientId: string): Promise<string | undefined>
  /**
   * Where binary publishes keep their bytes (see {@link BlobStore}), on the same backend and
   * with the same lifetime as the log: `close` closes it too. Absent: the hub refuses binary
   * publishes with `HERALD_UNSUPPORTED_MEDIA_TYPE`.
   */
  readonly blobs?: BlobStore | undefined
  /**
   * The schema registry kept in this store's backend (shared by every instance on it, and
   * persistent where the log is). Optional: the hub keeps schemas in its own memory for a
   * store without one (then nodes do not share them).
   */
  readonly schemas?: SchemaStore | undefined
  /**
   * `true`: the store gives every event appended without a `clientId` an update id of its
   * own, a `urn:uuid:` IRI (UUID version 8) derived from the event's cursor and the log's
   * identity when the event is read, so nothing is stored or indexed for it. Such ids are in
   * the events {@link append} returns and {@link read} yields, {@link findCursor} resolves
   * them, and `append` refuses a publisher id that has their form for this log
   * (`HERALD_DUPLICATE_EVENT_ID`). The hub then generates no id for such a store.
   */
  readonly derivesUpdateIds?: boolean
}
