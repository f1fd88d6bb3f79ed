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

/** Creates the write path: `(events, startedAt) => stored events`. */
export function createAppender(
  options: AppenderOptions,
): (inputs: readonly AppendInput[], started: number) => Promise<StoredEvent[]> {
  const { store, metrics, publishStartedAt, onAppended, revalidate } = options
  return async (inputs, started) => {
    let stored: StoredEvent[]
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
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          stored = await store.append(withIds)
          break
        } catch (error) {
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
        }
      }
    } catch (error) {
      if (isHeraldError(error)) throw error
      throw new HeraldError(
        'HERALD_STORE_UNAVAILABLE',
        `event store failed: ${(error as Error).message}`,
        { status: 503, cause: error },
      )
    } finally {
      metrics.observeAppend((performance.now() - t0) / 1000)
    }
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
}
