/**
 * Binary payloads: a publish with a binary body becomes a blob in the store's
 * {@link BlobStore} plus a small JSON event naming it (`{ blob, contentType, size, sha256 }`):
 * notify, then fetch. A blob lives exactly as long as its event:
 *
 * - it is put BEFORE its event is appended, and served only once the event is in the log
 *   (`find` looks the event up), so no subscriber can fetch it before the event exists, and a
 *   failed append leaves nothing that is ever served (the blob is deleted at once; if the
 *   process dies first, the sweep deletes it);
 * - it is served only while its event is retained: the moment retention removes the event,
 *   `GET /blobs/{id}` answers 404, and the next sweep deletes the bytes.
 *
 * The event carries the update id `#blob:{id}` (ids starting with `#` are the hub's own; no
 * publisher can take it), which is how an unlinked blob finds its event.
 */
import { createHash, randomBytes } from 'node:crypto'
import { HeraldError } from '@herald/protocol'
import type { Logger } from '@herald/server'
import type {
  AppendInput,
  BlobInfo,
  BlobInput,
  BlobStore,
  EventStore,
  StoredBlob,
  StoredEvent,
} from '@herald/store'
import {
  assertValidTopic,
  formatSequenceCursor,
  isBlobId,
  parseSequenceCursor,
} from '@herald/store'
import { fail } from './http-io.js'

/** Blob options of `createHub` (`blobs`). */
export interface BlobOptions {
  /**
   * Largest binary publish body, in bytes (413 beyond, nothing stored). Default 8 MiB, and at
   * most what the store keeps (`BlobStore.maxBlobBytes`). Separate from `maxBodyBytes`: a
   * blob is not an event payload and never goes down the event streams.
   */
  maxBytes?: number | undefined
  /**
   * Blobs of at most this many bytes ALSO travel inline in their event, base64 in a `base64`
   * field (0, the default: never). Costs 4/3 of the blob in every copy of the event: the log,
   * every subscriber's stream, every replay.
   */
  inlineBytes?: number | undefined
  /** How often the sweep deletes blobs whose event has left the log, in ms. Default 60 000. */
  sweepIntervalMs?: number | undefined
  /**
   * An unlinked blob (its publish still running, or its process died mid-publish) is swept
   * only when older than this, in ms, and its event is not in the log. Default 600 000.
   */
  orphanGraceMs?: number | undefined
}

/** The hub's blob service (present when the store has a {@link BlobStore}). */
export interface BlobService {
  /** Largest binary publish body, in bytes. */
  readonly maxBytes: number
  /** Blobs up to this size also go inline (0: off). */
  readonly inlineBytes: number
  /**
   * The event and the blob of a binary publish to `topic`.
   *
   * @throws {HeraldError} `HERALD_INVALID_TOPIC` (400), `HERALD_INVALID_PUBLISH` (400).
   */
  prepare(
    params: URLSearchParams,
    contentType: string,
    bytes: Uint8Array,
  ): { event: AppendInput; blob: BlobInput; fingerprint: string }
  /** Puts the blob, appends its event with `append`, links them; deletes the blob on failure. */
  publish(
    blob: BlobInput,
    event: AppendInput,
    append: (events: AppendInput[]) => Promise<StoredEvent[]>,
  ): Promise<StoredEvent[]>
  /** The blob named `id` when its event is in the log, else `undefined`. */
  find(id: string): Promise<StoredBlob | undefined>
  /** Deletes every blob whose event has left the log; resolves to how many. */
  sweep(): Promise<number>
  /** Stops the periodic sweep. */
  close(): void
}

/** Default `blobs.maxBytes`: 8 MiB. */
export const DEFAULT_MAX_BLOB_PUBLISH_BYTES = 8 * 1024 * 1024

/** The update id of a blob's event. */
export function blobEventId(id: string): string {
  return `#blob:${id}`
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `blobs.${name} must be a non-negative integer, got ${value}`,
    )
  }
  return value
}

/** Pages {@link eventOf} reads before it gives up on finding an unlinked blob's event. */
const FIND_PAGES = 20

/** Creates the blob service over `store.blobs`, or `undefined` when the store keeps no blobs. */
export function createBlobService(
  store: EventStore,
  options: BlobOptions,
  logger: Logger,
  now: () => number = Date.now,
): BlobService | undefined {
  const found: BlobStore | undefined = store.blobs
  if (found === undefined) return undefined
  const blobs = found
  const maxBytes = Math.min(
    nonNegative('maxBytes', options.maxBytes, DEFAULT_MAX_BLOB_PUBLISH_BYTES),
    blobs.maxBlobBytes,
  )
  const inlineBytes = nonNegative('inlineBytes', options.inlineBytes, 0)
  const sweepIntervalMs = nonNegative('sweepIntervalMs', options.sweepIntervalMs, 60_000)
  const orphanGraceMs = nonNegative('orphanGraceMs', options.orphanGraceMs, 600_000)

  /** The cursor of the blob's event when it is in the log, else `undefined`. */
  async function eventOf(info: BlobInfo): Promise<string | undefined> {
    // Stores that index update ids answer exactly "is this event retained" (all built-in
    // stores do); others are searched by topic.
    if (store.findCursor !== undefined) return store.findCursor(blobEventId(info.id))
    const filter = { topics: [info.topic], limit: 1 }
    if (info.eventId !== undefined) {
      // Dense sequence cursors: read the topic from just before the event; the first event
      // there is it, unless retention removed it (then the read is a reset, or starts later).
      const seq = parseSequenceCursor(info.eventId)
      if (seq === undefined) return info.eventId
      let cursor: string | undefined = formatSequenceCursor(seq - 1)
      for (let pages = 0; pages < FIND_PAGES; pages++) {
        const page = await store.read(cursor, filter)
        if (page.kind === 'reset') return undefined
        const first = page.events[0]
        if (first !== undefined) return first.id === info.eventId ? first.id : undefined
        if (!page.more) return undefined
        cursor = page.cursor
      }
      return undefined
    }
    // Not linked (yet): its event, if appended, comes after `after`.
    const wanted = blobEventId(info.id)
    let cursor = info.after
    for (let pages = 0; pages < FIND_PAGES; pages++) {
      const page = await store.read(cursor, { topics: [info.topic], limit: 100 })
      if (page.kind === 'reset') return undefined
      for (const event of page.events) if (event.clientId === wanted) return event.id
      if (!page.more) return undefined
      cursor = page.cursor
    }
    return undefined
  }

  async function sweep(): Promise<number> {
    let deleted = 0
    let after: string | undefined
    for (;;) {
      const page = await blobs.list(after, 100)
      for (const info of page) {
        if (info.eventId === undefined && now() - info.createdAt < orphanGraceMs) continue
        if ((await eventOf(info)) !== undefined) continue
        if (await blobs.delete(info.id)) deleted++
      }
      const last = page.at(-1)
      if (last === undefined || page.length < 100) break
      after = last.id
    }
    return deleted
  }

  let sweeping = false
  const timer =
    sweepIntervalMs > 0
      ? setInterval(() => {
          if (sweeping) return
          sweeping = true
          sweep()
            .then((n) => {
              if (n > 0) logger.info({ blobs: n }, 'swept blobs whose events left the log')
            })
            .catch((error: unknown) => logger.warn({ err: error }, 'blob sweep failed'))
            .finally(() => {
              sweeping = false
            })
        }, sweepIntervalMs)
      : undefined
  timer?.unref()

  return {
    maxBytes,
    inlineBytes,
    prepare(params, contentType, bytes) {
      const topic = params.get('topic') ?? ''
      assertValidTopic(topic)
      const flag = params.get('private')
      if (flag !== null && flag !== 'true' && flag !== 'false') {
        throw fail('HERALD_INVALID_PUBLISH', 400, 'private must be true or false')
      }
      const id = randomBytes(16).toString('base64url')
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      const blob: BlobInput = {
        id,
        topic,
        contentType,
        sha256,
        private: flag === 'true',
        createdAt: now(),
        after: undefined,
        bytes,
      }
      const data: Record<string, unknown> = {
        blob: `blobs/${id}`,
        contentType,
        size: bytes.length,
        sha256,
      }
      if (bytes.length <= inlineBytes) data.base64 = Buffer.from(bytes).toString('base64')
      return {
        event: {
          topic,
          data: JSON.stringify(data),
          clientId: blobEventId(id),
          private: blob.private,
        },
        blob,
        // What an idempotent retry must repeat: the same bytes, type, topic and flag.
        fingerprint: `blob\u0000${topic}\u0000${contentType}\u0000${blob.private}\u0000${sha256}`,
      }
    },
    async publish(input, event, append) {
      const health = await store.health()
      const after = health.ok ? health.latestId : undefined
      await blobs.put({ ...input, after })
      let stored: StoredEvent[]
      try {
        stored = await append([event])
      } catch (error) {
        await blobs.delete(input.id).catch(() => {})
        throw error
      }
      const id = stored[0]?.id
      if (id !== undefined) {
        // Best effort: an unlinked blob is still found (through `after`), only slower.
        await blobs.link(input.id, id).catch((error: unknown) => {
          logger.warn({ err: error, blob: input.id }, 'blob link failed')
        })
      }
      return stored
    },
    async find(id) {
      if (!isBlobId(id)) return undefined
      const blob = await blobs.get(id)
      if (blob === undefined) return undefined
      return (await eventOf(blob.info)) === undefined ? undefined : blob
    },
    sweep,
    close() {
      if (timer !== undefined) clearInterval(timer)
    },
  }
}
