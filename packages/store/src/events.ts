/**
 * Events as a store sees them: what a publisher appends ({@link AppendInput}) and what the
 * log hands back ({@link StoredEvent}).
 */
import { formatSequenceCursor } from './cursor.js'
import type { SchemaStore } from './schema-store.js'

/** An event as the publisher hands it to the store. */
export interface AppendInput {
  /** Canonical topic: concrete (no wildcard). */
  topic: string
  /**
   * Alternate topics (Mercure: an update posted with several `topic` values). The event is
   * ONE entry of the log with one id; a read or subscription matching the canonical topic or
   * any alternate returns it once. Concrete topics, without the canonical one or repeats.
   */
  alternates?: readonly string[] | undefined
  /** Payload, already serialised. */
  data: string
  /** Event type (`event:` field); absent means `message`. */
  type?: string | undefined
  /** Id supplied by the publisher: kept as metadata, never used as the cursor. */
  clientId?: string | undefined
  /**
   * `true` when the hub generated `clientId` (a random `urn:uuid:`) rather than the publisher:
   * it cannot repeat a retained one, so a store that checks ids may skip the check (it still
   * indexes the id for {@link EventStore.findCursor}).
   */
  clientIdGenerated?: boolean | undefined
  /** `retry:` hint to send with the event. */
  retry?: number | undefined
  /** Delivered only to subscribers whose token grants one of its topics. */
  private?: boolean | undefined
  /** The registry schema version the data was validated against (see `SchemaStore`). */
  schemaVersion?: number | undefined
  /**
   * The schema revision ({@link SchemaStore.schemaRevision}) the data was validated against,
   * set by the hub when the store's schemas have {@link SchemaStore.knownSchemaRevision}: such
   * a store refuses the append (`HERALD_SCHEMA_CONFLICT`, nothing stored) when the backend's
   * revision is another. The events of one append share one validation, so one revision.
   */
  schemaRevision?: number | undefined
}

/** An event in the log. */
export interface StoredEvent {
  /**
   * The hub cursor: assigned by the store, unique and strictly increasing across every
   * instance on one backend, never reused (even across restarts for persistent stores).
   * Compare with the issuing store's {@link EventStore.cursors}; it is the SSE `id:`
   * subscribers see.
   */
  readonly id: string
  /** Canonical topic. */
  readonly topic: string
  /** Alternate topics, `[]` for most events (see {@link AppendInput.alternates}). */
  readonly alternates: readonly string[]
  /** Payload. */
  readonly data: string
  /** Event type, or `undefined` for `message`. */
  readonly type: string | undefined
  /** Publisher-supplied id, kept as metadata. */
  readonly clientId: string | undefined
  /** `retry:` hint, if any. */
  readonly retry: number | undefined
  /** Private events go only to subscribers whose token grants one of their topics. */
  readonly private: boolean
  /** When the store accepted the event, in milliseconds since the epoch. */
  readonly publishedAt: number
  /**
   * The registry schema version the data was validated against, or `undefined` when no
   * registered schema applied to its topic.
   */
  readonly schemaVersion: number | undefined
}

/** Shared by every event without alternates: one frozen array, not one per event. */
export const NO_ALTERNATES: readonly string[] = Object.freeze([])

/**
 * The stored form of an appended event, for stores with sequence cursors: every store
 * returns this from `append`, so that stores agree on defaults (`private` false,
 * `alternates` empty) and on the cursor format. `clientId`: the event's update id when the
 * store derives one (`EventStore.derivesUpdateIds`), else the publisher's.
 */
export function toStoredEvent(
  input: AppendInput,
  sequence: number,
  publishedAt: number,
  clientId: string | undefined = input.clientId,
): StoredEvent {
  return {
    id: formatSequenceCursor(sequence),
    topic: input.topic,
    alternates:
      input.alternates === undefined || input.alternates.length === 0
        ? NO_ALTERNATES
        : [...input.alternates],
    data: input.data,
    type: input.type,
    clientId,
    retry: input.retry,
    private: input.private === true,
    publishedAt,
    schemaVersion: input.schemaVersion,
  }
}

/** Every topic of an event: the canonical one first, then its alternates. */
export function topicsOf(event: StoredEvent): readonly string[] {
  return event.alternates.length === 0 ? [event.topic] : [event.topic, ...event.alternates]
}
