/**
 * Conflation of superseded events, for topics that opt in (`conflate` topic patterns): a
 * ticker's subscriber needs the latest price, not a backlog of old ones. When the node's tail
 * hands over a batch (it reads several events at once only when delivery is behind the log),
 * an event of an opted-in topic that a LATER event of the same batch supersedes is not
 * written to live subscribers: no subscriber was sent it yet, and the newer one follows in
 * the same turn. Nothing else changes: the log keeps every event (a replay from
 * `Last-Event-ID` sends each of them), order is kept (the newer event goes out in its own
 * place), the newest event of each key is always written, and every dropped write is counted.
 *
 * Two events have the same key when they share the topic, the event type and the `private`
 * flag: the newer one then reaches exactly the subscribers the older one would have. Events
 * with alternate topics (Mercure) are never conflated.
 */
import type { StoredEvent } from '@herald/store'
import { createTopicMatcher } from '@herald/store'

/** Picks the superseded events of a batch. */
export interface Conflation {
  /**
   * The events of `batch` that a later event of the same batch supersedes, or `undefined`
   * when there are none (the common case: a batch of one).
   */
  superseded(batch: readonly StoredEvent[]): ReadonlySet<StoredEvent> | undefined
}

function keyOf(event: StoredEvent): string {
  return `${event.private ? 'p' : 'o'}${event.type ?? ''}\u0000${event.topic}`
}

/**
 * Creates the conflation of the topics matching `patterns` (topic patterns, `ticker/*`), or
 * `undefined` when `patterns` is empty.
 */
export function createConflation(patterns: readonly string[]): Conflation | undefined {
  if (patterns.length === 0) return undefined
  const matcher = createTopicMatcher(patterns)
  // A topic's answer does not change: remember it (bounded: topics can be many).
  const known = new Map<string, boolean>()
  const conflated = (topic: string): boolean => {
    let yes = known.get(topic)
    if (yes === undefined) {
      yes = matcher.matches(topic)
      if (known.size >= 10_000) known.clear()
      known.set(topic, yes)
    }
    return yes
  }
  return {
    superseded(batch) {
      if (batch.length < 2) return undefined
      let seen: Set<string> | undefined
      let dropped: Set<StoredEvent> | undefined
      // Newest first: an event whose key was already seen is superseded.
      for (let i = batch.length - 1; i >= 0; i--) {
        const event = batch[i] as StoredEvent
        if (event.alternates.length > 0 || !conflated(event.topic)) continue
        const key = keyOf(event)
        seen ??= new Set()
        if (seen.has(key)) {
          dropped ??= new Set()
          dropped.add(event)
        } else seen.add(key)
      }
      return dropped
    },
  }
}
