/**
 * The hub's one write path: give every event an update id (the publisher's, else a generated
 * `urn:uuid:` IRI: the SSE id on the Mercure endpoint; a store that `derivesUpdateIds` gives
 * its own), append validated events to the store,
 * map store failures to `HERALD_STORE_UNAVAILABLE`, and count them. Delivery is not its
 * business: every node's tail reads the appended events back from the log, in log order.
 */
import { HeraldError, isHeraldError } from '@herald/protocol'
import type { AppendInput, EventStore, StoredEvent } from '@herald/store'
import { generateEventId } from './mercure/event-id.js'
import type { HubMetrics } from './metrics.js'

/** What the write path needs. */
export interface AppenderOptions {
  store: EventStore
  metrics: HubMetrics
  /** Publish start times by first id, for the publish-to-write latency histogram. */
  publishStartedAt: Map<string, number>
  /** Told of every append once it is durable (the admission's tracking). */
  onAppended?: ((stored: readonly StoredEvent[]) => void) | undefined
  /**
   * Validates events again, when the store refused them because the schemas changed since
   * they were validated (`HERALD_SCHEMA_CONFLICT` on events with a `schemaRevision`).
   */
  revalidate(events: readonly AppendInput[]): Promise<void> | undefined
}

/** Appends refused for a moved schema revision before the conflict is answered. */
const SCHEMA_RETRIES = 4

/** A store failure as the publisher sees it: a `HeraldError` as is, else 503. */
function storeFailure(error: unknown): HeraldError {
  if (isHeraldError(error)) return error
  return new HeraldError(
    'HERALD_STORE_UNAVAILABLE',
    `event store failed: ${(error as Error).message}`,
    { status: 503, cause: error },
  )
}

/** Creates the write path: `(events, startedAt) => stored events`. */
export function createAppender(
  options: AppenderOptions,
): (inputs: readonly AppendInput[], started: number) => Promise<StoredEvent[]> {
  const { store, metrics, publishStartedAt, onAppended, revalidate } = options

  /** After a refused append: the schema retries (up to SCHEMA_RETRIES more appends). */
  async function retry(error: unknown, withIds: readonly AppendInput[]): Promise<StoredEvent[]> {
    for (let attempt = 0; ; attempt++) {
      // A schema was registered (on any node) after these events were validated: validate
      // them against it, and append again (an invalid one is refused as on a fresh publish).
      if (
        attempt >= SCHEMA_RETRIES ||
        !isHeraldError(error, 'HERALD_SCHEMA_CONFLICT') ||
        withIds[0]?.schemaRevision === undefined
      ) {
        throw error
      }
      await revalidate(withIds)
      try {
        return await store.append(withIds)
      } catch (next) {
        error = next
      }
    }
  }

  function appended(stored: StoredEvent[], started: number, t0: number): StoredEvent[] {
    metrics.observeAppend((performance.now() - t0) / 1000)
    metrics.countPublished(stored.length)
    const first = stored[0]
    if (first !== undefined) {
      if (publishStartedAt.size > 10_000) publishStartedAt.clear()
      publishStartedAt.set(first.id, started)
    }
    // Here rather than in a wrapper around this function: one async frame less per publish.
    onAppended?.(stored)
    return stored
  }

  function failed(error: unknown, t0: number): never {
    metrics.observeAppend((performance.now() - t0) / 1000)
    throw storeFailure(error)
  }

  // Not an async function: an append that succeeds at once (nearly all) costs one
  // continuation, not an async frame and an await per publish.
  return (inputs, started) => {
    // A store that derives ids (SQLite) stores nothing for them: no random id to index. For
    // the others, a generated id is marked so: it cannot repeat, so it needs no check.
    const withIds =
      store.derivesUpdateIds === true
        ? inputs
        : inputs.map((e) =>
            e.clientId === undefined
              ? { ...e, clientId: generateEventId(), clientIdGenerated: true }
              : e,
          )
    const t0 = performance.now()
    let appending: Promise<StoredEvent[]>
    try {
      appending = store.append(withIds)
    } catch (error) {
      appending = Promise.reject(error)
    }
    return appending.then(
      (stored) => appended(stored, started, t0),
      (error: unknown) =>
        retry(error, withIds).then(
          (stored) => appended(stored, started, t0),
          (final: unknown) => failed(final, t0),
        ),
    )
  }
}
