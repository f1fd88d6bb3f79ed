/**
 * The blob boundary: bytes published with `POST /publish?topic=T` (a binary body) live in a
 * {@link BlobStore} next to the log, and the log carries a small JSON event naming them. A
 * blob belongs to exactly one event: the hub serves it only while that event is retained and
 * deletes it once the event has left the log (see `docs/binary.md`).
 *
 * How the hub uses it (what an implementer must make true):
 * - `put` BEFORE the event is appended, `link` after. A blob without a linked event is never
 *   served unless the hub finds its event in the log; if the append fails, the hub deletes it.
 * - `get` returns the bytes and metadata exactly as put (`link` sets `eventId`).
 * - `list` pages through every blob in id order (the hub's sweep deletes the orphans).
 */
import { HeraldError } from '@herald/protocol'

/** Longest blob id, in characters (ids are `[A-Za-z0-9_-]`). */
export const MAX_BLOB_ID_LENGTH = 64

const BLOB_ID = /^[A-Za-z0-9_-]{1,64}$/

/** `true` when `id` is a well-formed blob id (`[A-Za-z0-9_-]`, 1 to 64 characters). */
export function isBlobId(id: string): boolean {
  return BLOB_ID.test(id)
}

/** What a store keeps about a blob beside its bytes. */
export interface BlobInfo {
  /** Unique id (`[A-Za-z0-9_-]`, at most {@link MAX_BLOB_ID_LENGTH}); the hub draws it at random. */
  readonly id: string
  /** The concrete topic of the blob's event (its grants apply to the blob). */
  readonly topic: string
  /** The publisher's `Content-Type`. */
  readonly contentType: string
  /** Length of the bytes. */
  readonly size: number
  /** SHA-256 of the bytes, lower-case hex (the strong `ETag`). */
  readonly sha256: string
  /** Served only to subscribers granted the topic, like a private event. */
  readonly private: boolean
  /** When the blob was put, in milliseconds since the epoch. */
  readonly createdAt: number
  /**
   * The newest cursor the log had issued before the blob's event was appended (`undefined`:
   * none yet): the event, when there is one, comes after it.
   */
  readonly after: string | undefined
  /** The cursor of the blob's event, once {@link BlobStore.link} recorded it. */
  readonly eventId: string | undefined
}

/** What {@link BlobStore.put} takes: the bytes and their metadata, not yet linked. */
export interface BlobInput extends Omit<BlobInfo, 'size' | 'eventId'> {
  /** The content. */
  readonly bytes: Uint8Array
}

/** A stored blob. */
export interface StoredBlob {
  /** Its metadata. */
  readonly info: BlobInfo
  /** Its content. */
  readonly bytes: Uint8Array
}

/**
 * Bytes beside the log, each tied to one event. Implementations bound the size of one blob
 * ({@link maxBlobBytes}); the hub's own limit (`--max-blob`) is at most that.
 */
export interface BlobStore {
  /** Largest blob {@link put} accepts, in bytes. */
  readonly maxBlobBytes: number
  /**
   * Stores a blob under `input.id`, unlinked. Once it resolves, {@link get} on every instance of
   * the backend returns it.
   *
   * @throws {HeraldError} `HERALD_PAYLOAD_TOO_LARGE` (413) past {@link maxBlobBytes},
   * `HERALD_BLOB_STORE_FULL` (507) when a bounded store has no room, `HERALD_STORE_UNAVAILABLE`.
   * @throws {TypeError} for an invalid id or an id already stored.
   */
  put(input: BlobInput): Promise<BlobInfo>
  /** Records the cursor of the blob's event. Resolves `false` when no such blob is stored. */
  link(id: string, eventId: string): Promise<boolean>
  /** The blob, or `undefined` when none has this id. */
  get(id: string): Promise<StoredBlob | undefined>
  /** Deletes a blob; resolves `false` when there was none. */
  delete(id: string): Promise<boolean>
  /** Up to `limit` blobs with an id greater than `after` (from the first when `undefined`), in id order. */
  list(after: string | undefined, limit: number): Promise<BlobInfo[]>
}

/**
 * Checks a {@link BlobInput} against a store's size bound (shared by the stores).
 *
 * @throws {TypeError} a malformed id, bytes or digest.
 * @throws {HeraldError} `HERALD_PAYLOAD_TOO_LARGE` (413) past `maxBlobBytes`.
 */
export function assertBlobInput(input: BlobInput, maxBlobBytes: number): void {
  if (!isBlobId(input.id)) throw new TypeError(`invalid blob id ${JSON.stringify(input.id)}`)
  if (!(input.bytes instanceof Uint8Array)) throw new TypeError('blob bytes must be a Uint8Array')
  if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw new TypeError('sha256 must be 64 hex digits')
  if (input.bytes.length > maxBlobBytes) {
    throw new HeraldError(
      'HERALD_PAYLOAD_TOO_LARGE',
      `blob of ${input.bytes.length} bytes; the store keeps at most ${maxBlobBytes}`,
      { status: 413 },
    )
  }
}

/** The {@link BlobInfo} of a new blob. */
export function toBlobInfo(input: BlobInput): BlobInfo {
  return {
    id: input.id,
    topic: input.topic,
    contentType: input.contentType,
    size: input.bytes.length,
    sha256: input.sha256,
    private: input.private,
    createdAt: input.createdAt,
    after: input.after,
    eventId: undefined,
  }
}
