/**
 * The storage and fan-out boundary of the hub: an {@link EventStore} keeps the log and
 * assigns ids, a {@link Broker} carries appended events to every hub node. Memory, SQLite,
 * Redis and NATS implementations sit behind these two interfaces and run the same contract
 * suite (`@herald/testkit`).
 */

/** An event as the publisher hands it to the store. */
export interface AppendInput {
  /** Concrete topic (no wildcard). */
  topic: string
  /** Payload, already serialised. */
  data: string
  /** Event type (`event:` field); absent means `message`. */
  type?: string | undefined
  /** Id supplied by the publisher: kept as metadata, never used as the cursor. */
  clientId?: string | undefined
  /** `retry:` hint to send with the event. */
  retry?: number | undefined
  /** Delivered only to subscribers whose token grants the topic. */
  private?: boolean | undefined
}

/** An event in the log. */
export interface StoredEvent {
  /**
   * The hub cursor: assigned by the store, unique and strictly increasing per hub, never
   * reused (even across restarts for persistent stores). Cursors of one store compare
   * correctly as strings ({@link compareCursors}); it is the SSE `id:` subscribers see.
   */
  readonly id: string
  /** Concrete topic. */
  readonly topic: string
  /** Payload. */
  readonly data: string
  /** Event type, or `undefined` for `message`. */
  readonly type: string | undefined
  /** Publisher-supplied id, kept as metadata. */
  readonly clientId: string | undefined
  /** `retry:` hint, if any. */
  readonly retry: number | undefined
  /** Private events go only to subscribers whose token grants the topic. */
  readonly private: boolean
  /** When the store accepted the event, in milliseconds since the epoch. */
  readonly publishedAt: number
}

/** Which events a read returns. */
export interface ReadFilter {
  /** Topic patterns (see `topic.ts`); an event matching any of them is returned. */
  topics: readonly string[]
  /** Most events to return in one page. */
  limit: number
}

/** A page of events read after a cursor. */
export interface ReadPage {
  readonly kind: 'events'
  /** Matching events with an id greater than the cursor, in id order. */
  readonly events: readonly StoredEvent[]
  /** `true` when more matching events may follow the last one (read again from it). */
  readonly more: boolean
}

/** Why a cursor cannot be resumed. */
export type ResetReason =
  /** Events after the cursor were deleted by retention: resuming would hide a gap. */
  | 'expired'
  /** The cursor was never issued by this store (malformed, from another store, or ahead of it). */
  | 'unknown'

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

/** The result of {@link EventStore.readSince}. */
export type ReadResult = ReadPage | ReadReset

/** The ids a store currently holds. */
export interface StoreBounds {
  /** Oldest id in the log, or `undefined` when empty. */
  readonly oldestId: string | undefined
  /** Newest id ever issued (it may already be deleted), or `undefined` when none was. */
  readonly latestId: string | undefined
}

/**
 * An append-only, retention-bounded event log with ONE monotonic cursor for the whole
 * hub, so a single `Last-Event-ID` resumes a subscription to many topics exactly.
 */
export interface EventStore {
  /**
   * Appends the events atomically (all or none) and resolves to them with their assigned
   * ids, in order. Once it resolves, {@link readSince} returns them.
   */
  append(events: readonly AppendInput[]): Promise<StoredEvent[]>
  /**
   * Reads matching events with an id greater than `cursor` (from the oldest when
   * `cursor` is `undefined`), or a reset when events after `cursor` were lost to
   * retention or `cursor` was never issued.
   */
  readSince(cursor: string | undefined, filter: ReadFilter): Promise<ReadResult>
  /** Oldest and newest ids; rejects when the store is unreachable (used by `/readyz`). */
  bounds(): Promise<StoreBounds>
  /** Flushes pending appends and releases resources. Later calls reject. */
  close(): Promise<void>
}

/**
 * Carries appended events to every hub node. A node holds ONE subscription and fans
 * events out to its own subscribers, never one broker subscription per client.
 */
export interface Broker {
  /** Delivers `events` (already appended, in id order) to every subscription. */
  publish(events: readonly StoredEvent[]): Promise<void>
  /**
   * Yields batches of events in id order until `signal` aborts. A subscription sees every
   * event published after it started.
   */
  subscribe(signal: AbortSignal): AsyncIterable<readonly StoredEvent[]>
  /** Ends every subscription and releases resources. */
  close(): Promise<void>
}

/**
 * Compares two cursors issued by the same store: negative when `a` is older, 0 when
 * equal, positive when newer. Built-in stores issue fixed-width cursors (see
 * {@link formatSequenceCursor}), which compare as strings; shorter strings are older.
 */
export function compareCursors(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length
  return a < b ? -1 : a > b ? 1 : 0
}

/** Width of the decimal cursors issued by the built-in stores. */
export const SEQUENCE_CURSOR_WIDTH = 16

/** Formats a sequence number as a fixed-width, zero-padded decimal cursor. */
export function formatSequenceCursor(sequence: number): string {
  return String(sequence).padStart(SEQUENCE_CURSOR_WIDTH, '0')
}

/**
 * Checks a resume cursor against a sequence store's bounds: the sequence to read after, or
 * why it cannot be resumed. A cursor that does not parse or lies ahead of the newest event
 * is `unknown`; one older than what retention already deleted (hub-wide, or for a topic the
 * subscription matches: `topicPrunedThrough` holds `[topic, last deleted sequence]` pairs) is
 * `expired`.
 */
export function checkSequenceCursor(
  cursor: string,
  latest: number,
  prunedThrough: number,
  topicPrunedThrough: Iterable<readonly [topic: string, through: number]>,
  matcher: { matches(topic: string): boolean },
): number | ResetReason {
  const seq = parseSequenceCursor(cursor)
  if (seq === undefined || seq > latest) return 'unknown'
  if (seq < prunedThrough) return 'expired'
  for (const [topic, through] of topicPrunedThrough) {
    if (through > seq && matcher.matches(topic)) return 'expired'
  }
  return seq
}

/**
 * The stored form of an appended event: what every store returns from `append`, so that
 * stores agree on defaults (`private` false) and on the cursor format.
 */
export function toStoredEvent(
  input: AppendInput,
  sequence: number,
  publishedAt: number,
): StoredEvent {
  return {
    id: formatSequenceCursor(sequence),
    topic: input.topic,
    data: input.data,
    type: input.type,
    clientId: input.clientId,
    retry: input.retry,
    private: input.private === true,
    publishedAt,
  }
}

/**
 * Parses a cursor issued by {@link formatSequenceCursor} (any decimal string of at most 16
 * digits is accepted, so `0` means "before the first event"). Returns `undefined` for
 * anything else.
 */
export function parseSequenceCursor(cursor: string): number | undefined {
  if (cursor.length === 0 || cursor.length > SEQUENCE_CURSOR_WIDTH) return undefined
  for (let i = 0; i < cursor.length; i++) {
    const c = cursor.charCodeAt(i)
    if (c < 48 || c > 57) return undefined
  }
  const n = Number(cursor)
  return Number.isSafeInteger(n) ? n : undefined
}
