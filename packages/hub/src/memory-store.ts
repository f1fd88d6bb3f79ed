/**
 * The in-memory event store: a ring of slots indexed by sequence number. Fast and
 * dependency-free; the log is lost when the process exits (a reconnecting client then
 * gets a `herald.reset`).
 */
import { HeraldError } from '@herald/protocol'
import type {
  AppendInput,
  EventStore,
  ReadFilter,
  ReadResult,
  RetentionOptions,
  StoredEvent,
  TopicMatcher,
} from '@herald/store'
import {
  checkSequenceCursor,
  createMemorySchemaStore,
  createTopicMatcher,
  createWakeSignal,
  formatSequenceCursor,
  newLogId,
  parseUpdateId,
  resolveRetention,
  SEQUENCE_CURSORS,
  toStoredEvent,
  updateIdsOf,
} from '@herald/store'
import { createMemoryBlobStore } from './memory-blob-store.js'

/** Options of {@link createMemoryEventStore}. */
export interface MemoryEventStoreOptions {
  /** Retention; defaults to 100 000 events and 24 hours. */
  retention?: RetentionOptions | undefined
  /**
   * Memory bound, in bytes (estimated as two bytes per character plus 64 per event): the
   * oldest events go first past it, like `maxEvents`. Default 256 MiB.
   */
  maxBytes?: number | undefined
  /** Clock, for tests. Defaults to `Date.now`. */
  now?: (() => number) | undefined
}

/** Runs `fn` once the current turn's I/O callbacks are done (setTimeout where there is no setImmediate). */
const endOfTurn: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0)

/** Default hub-wide retention of the memory store. */
export const MEMORY_STORE_DEFAULT_RETENTION = { maxEvents: 100_000, maxAgeMs: 24 * 3600_000 }

interface TopicRule {
  matcher: TopicMatcher
  maxEvents: number
  maxAgeMs: number
  /** Sequence numbers of matching events, oldest first, from `head`. */
  seqs: number[]
  head: number
}

function matchesEvent(matcher: TopicMatcher, event: StoredEvent): boolean {
  if (matcher.matches(event.topic)) return true
  for (const topic of event.alternates) if (matcher.matches(topic)) return true
  return false
}

/** Creates an in-memory {@link EventStore}. */
export function createMemoryEventStore(options: MemoryEventStoreOptions = {}): EventStore {
  const policy = resolveRetention(options.retention, MEMORY_STORE_DEFAULT_RETENTION)
  const now = options.now ?? Date.now
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024
  if (!(maxBytes > 0)) throw new TypeError('createMemoryEventStore: maxBytes must be > 0')
  let bytes = 0
  const sizeOf = (e: StoredEvent): number =>
    64 + 2 * (e.data.length + e.topic.length + (e.type?.length ?? 0) + (e.clientId?.length ?? 0))
  const rules: TopicRule[] = policy.topics.map((rule) => ({
    matcher: createTopicMatcher([rule.pattern]),
    maxEvents: rule.maxEvents,
    maxAgeMs: rule.maxAgeMs,
    seqs: [],
    head: 0,
  }))
  // slots[i] holds sequence number base + i; the live log is slots[head..]. Deleted events
  // leave `undefined` holes; the head moves past them in O(1), and the dead prefix is cut
  // off only once it is at least half the array, so each event is copied O(1) times in
  // all (amortised O(1) retention: a slice per dropped event made every append O(n)).
  let slots: (StoredEvent | undefined)[] = []
  let head = 0
  let base = 1
  let lastSeq = 0
  let lastTime = 0
  // Everything at or below this sequence number was deleted by the hub-wide bounds.
  let prunedThrough = 0
  // Per-topic rules delete events in the middle of the log: remember, per topic, the
  // newest sequence number deleted that way so a cursor before it gets a reset.
  const topicPrunedThrough = new Map<string, number>()
  let closed = false
  const wakes = createWakeSignal()
  // Watchers are woken once per turn of the event loop, after its appends: the node tail then
  // reads a turn's publishes in one read and one fan-out pass, not one per publish (a read
  // sees an append at once; only the wakeup waits for the end of the turn).
  let wakeQueued = false
  const wakeWatchers = (): void => {
    wakeQueued = false
    wakes.wake()
  }
  // This log's identity in the update ids it derives (derivesUpdateIds).
  const logId = newLogId(globalThis.crypto.getRandomValues(new Uint8Array(8)))
  // The part of every derived id this log shares, built once (not once per append).
  const updateIdOf = updateIdsOf(logId)
  // Matchers by topic list (the array itself: a caller that reuses one, the node tail, reuses
  // its matcher; a list is read-only once passed).
  const matchers = new WeakMap<readonly string[], ReturnType<typeof createTopicMatcher>>()

  function assertOpen(): void {
    if (closed)
      throw new HeraldError('HERALD_STORE_CLOSED', 'the event store is closed', { status: 503 })
  }

  /** Live slots, holes in the middle included. */
  const size = (): number => slots.length - head

  /** Index of sequence number `seq` in `slots`. */
  const at = (seq: number): number => seq - base

  /**
   * Moves the head past the holes at the front. Invariant after it: `slots[head]` is an
   * event, or the log is empty.
   */
  function advance(): void {
    while (head < slots.length && slots[head] === undefined) head++
    if (head === slots.length) {
      base += head
      slots = []
      head = 0
    } else if (head > 1024 && head * 2 > slots.length) {
      // The dead prefix is at least as long as the live part: the copy costs at most
      // one step per event dropped since the last one.
      slots = slots.slice(head)
      base += head
      head = 0
    }
  }

  // Publisher ids of retained events, to refuse duplicates and resume Mercure subscribers.
  const byClientId = new Map<string, number>()
  function forget(event: StoredEvent): void {
    // Derived ids were never indexed (a publisher's id never has their form: refused). With
    // no publisher id in the log there is nothing to look up (nor a 45-character id to hash
    // for every event retention drops).
    if (
      byClientId.size !== 0 &&
      event.clientId !== undefined &&
      byClientId.get(event.clientId) !== undefined
    ) {
      byClientId.delete(event.clientId)
    }
  }

  /** Deletes the oldest event under the hub-wide bounds. */
  function dropHead(): void {
    const event = slots[head]
    if (event !== undefined) {
      bytes -= sizeOf(event)
      forget(event)
    }
    slots[head] = undefined
    prunedThrough = base + head
    advance()
  }

  function prune(): void {
    const t = now()
    // Hub-wide: count (in slots, holes included, so memory stays bounded) then age.
    while (size() > policy.maxEvents || (bytes > maxBytes && size() > 0)) dropHead()
    if (policy.maxAgeMs !== Number.POSITIVE_INFINITY) {
      const cutoff = t - policy.maxAgeMs
      while (size() > 0 && (slots[head] as StoredEvent).publishedAt < cutoff) dropHead()
    }
    for (const rule of rules) {
      const cutoff = t - rule.maxAgeMs
      for (;;) {
        // Skip entries already gone (deleted by the hub-wide bounds or another rule).
        while (rule.head < rule.seqs.length) {
          const seq = rule.seqs[rule.head] as number
          if (seq >= base + head && slots[at(seq)] !== undefined) break
          rule.head++
        }
        const live = rule.seqs.length - rule.head
        if (live === 0) break
        const seq = rule.seqs[rule.head] as number
        const event = slots[at(seq)] as StoredEvent
        if (live <= rule.maxEvents && event.publishedAt >= cutoff) break
        slots[at(seq)] = undefined
        bytes -= sizeOf(event)
        forget(event)
        topicPrunedThrough.set(event.topic, seq)
        rule.head++
        if (seq === base + head) advance()
      }
      if (rule.head > 1024 && rule.head * 2 > rule.seqs.length) {
        rule.seqs = rule.seqs.slice(rule.head)
        rule.head = 0
      }
    }
  }

  function oldestId(): string | undefined {
    for (let i = head; i < slots.length; i++) {
      if (slots[i] !== undefined) return formatSequenceCursor(base + i)
    }
    return undefined
  }

  function bounds(): { oldestId: string | undefined; latestId: string | undefined } {
    return {
      oldestId: oldestId(),
      latestId: lastSeq === 0 ? undefined : formatSequenceCursor(lastSeq),
    }
  }

  function appendNow(inputs: readonly AppendInput[]): StoredEvent[] {
    assertOpen()
    // Wall clocks step back; publishedAt never does, so age pruning stays a prefix.
    // All or nothing: a duplicate publisher id refuses the batch before anything is written.
    // Only publishes that name their ids need the set (most name none).
    let batchIds: Set<string> | undefined
    for (const input of inputs) {
      const id = input.clientId
      if (id === undefined) continue
      batchIds ??= new Set()
      if (byClientId.has(id) || batchIds.has(id) || parseUpdateId(logId, id) !== undefined) {
        throw new HeraldError(
          'HERALD_DUPLICATE_EVENT_ID',
          `an event with id ${JSON.stringify(id)} is already in the log: update ids are unique`,
          { status: 409 },
        )
      }
      batchIds.add(id)
    }
    const t = Math.max(now(), lastTime)
    lastTime = t
    const out: StoredEvent[] = []
    for (const input of inputs) {
      const seq = ++lastSeq
      const event = toStoredEvent(input, seq, t)
      // No publisher id: one derived from the sequence number, never indexed (findCursor
      // reads the sequence number back from it).
      if (input.clientId === undefined) {
        // A fresh object of ours: set in place rather than copied.
        ;(event as { clientId?: string }).clientId = updateIdOf(seq)
      } else byClientId.set(input.clientId, seq)
      slots.push(event)
      bytes += sizeOf(event)
      for (const rule of rules) if (rule.matcher.matches(event.topic)) rule.seqs.push(seq)
      out.push(event)
    }
    prune()
    if (!wakeQueued) {
      wakeQueued = true
      endOfTurn(wakeWatchers)
    }
    return out
  }

  return {
    cursors: SEQUENCE_CURSORS,
    derivesUpdateIds: true,
    schemas: createMemorySchemaStore({ now, closed: () => closed }),

    blobs: createMemoryBlobStore({ assertOpen }),

    async findCursor(clientId: string) {
      assertOpen()
      const derived = parseUpdateId(logId, clientId)
      if (derived !== undefined) {
        // Derived: the event must still be in the log (and not one with a publisher's id).
        const event = derived >= base + head ? slots[at(derived)] : undefined
        return event?.clientId === clientId ? formatSequenceCursor(derived) : undefined
      }
      const seq = byClientId.get(clientId)
      return seq === undefined ? undefined : formatSequenceCursor(seq)
    },

    append(inputs: readonly AppendInput[]) {
      // Not an async function (no frame per append): what it throws becomes the rejection.
      try {
        return Promise.resolve(appendNow(inputs))
      } catch (error) {
        return Promise.reject(error)
      }
    },

    async read(cursor: string | undefined, filter: ReadFilter): Promise<ReadResult> {
      assertOpen()
      prune()
      // The node tail reads with the same topic list every time: one matcher for it.
      let matcher = matchers.get(filter.topics)
      if (matcher === undefined) {
        matcher = createTopicMatcher(filter.topics)
        matchers.set(filter.topics, matcher)
      }
      let after = 0
      if (cursor !== undefined) {
        const seq = checkSequenceCursor(cursor, lastSeq, prunedThrough, topicPrunedThrough, matcher)
        if (typeof seq === 'string') return { kind: 'reset', reason: seq, ...bounds() }
        after = seq
      }
      const events: StoredEvent[] = []
      const limit = Math.max(1, filter.limit)
      for (let i = Math.max(head, at(after + 1)); i < slots.length; i++) {
        const event = slots[i]
        if (event === undefined || !matchesEvent(matcher, event)) continue
        if (events.length === limit) {
          return { kind: 'events', events, cursor: events.at(-1)?.id, more: true }
        }
        events.push(event)
      }
      // The whole log was scanned: continue after its newest id.
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
      prune()
      return { ok: true, ...bounds() }
    },

    async close() {
      closed = true
      wakes.close()
      slots = []
      head = 0
      bytes = 0
    },
  }
}
