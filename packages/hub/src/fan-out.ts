/**
 * Fan-out on one node: the node's single log reader (`node-tail.ts`) feeds every local
 * subscriber, in log order. A new subscriber is registered BEFORE its replay reads the log,
 * buffering live events meanwhile; after the replay, buffered events newer than the last
 * replayed id are sent. So replay then live has no gap (registration precedes the read, and
 * the tail delivers every id in order) and no duplicate (ids are compared at the seam),
 * whatever publishes race with the replay, on this node or any other.
 */
import type { Frame, Session } from '@herald/server'
import { createCommentFrame, createFrame, joinFrames } from '@herald/server'
import type { EventStore, StoredEvent, TopicMatcher } from '@herald/store'
import { isTopicPattern, topicsOf } from '@herald/store'
import type { Principal } from './auth.js'
import { canReceivePrivate } from './auth.js'
import type { Conflation } from './conflation.js'
import type { ClientView } from './dashboard-api.js'
import type { MercureSubscription } from './mercure/subscription.js'
import type { HubMetrics } from './metrics.js'
import { createPatternIndex } from './pattern-index.js'

/** Event type of the in-band reset notice. */
export const RESET_EVENT = 'herald.reset'

/** A store filter matching every topic. */
const ALL_TOPICS: readonly string[] = ['**']

/** The cursor meaning "from the oldest retained event" (Mercure's `earliest`). */
export const EARLIEST = 'earliest'

interface Subscriber {
  readonly session: Session
  /**
   * Index keys: topics and Herald patterns (an array shared by the subscribers with the same
   * list), or Mercure selector keys (see `keyOf`).
   */
  topics: readonly string[]
  readonly principal: Principal
  /**
   * What a Mercure subscriber or a replaying one needs; `undefined` for the rest (most: a
   * live Herald subscriber), which saves them a field each.
   */
  rare: SubscriberExtras | undefined
  /** Newest id written to the session. */
  lastId: string | undefined
  /** Attached at, ms since {@link SINCE_BASE} (the dashboard's clients table shows it). */
  readonly since: number
}

interface SubscriberExtras {
  /** Set for a subscriber of the Mercure endpoint: its selectors, its resume point. */
  readonly mercure: MercureSubscription | undefined
  /** Live events received while replaying; `undefined` once live. */
  buffer: StoredEvent[] | undefined
}

/**
 * Attach times are kept as ms since this module loaded, an int32 while they are one (the first
 * 24.8 days): V8 keeps a small integer in the object itself, where a Date.now() value takes a
 * 16-byte heap number on every subscriber.
 */
const SINCE_BASE = Date.now()

function sinceBase(now: number): number {
  const ms = now - SINCE_BASE
  const small = ms | 0
  return small === ms ? small : ms
}

/** Options of {@link createFanOut}. */
export interface FanOutOptions {
  store: EventStore
  metrics: HubMetrics
  /** Events per replay read. */
  replayPageSize: number
  /** Live events a replaying subscriber may buffer before it is cut off (it resumes later). */
  maxReplayBuffer: number
  /** Replay pauses while a session holds more than this many unwritten bytes. */
  replayHighWaterBytes: number
  /** Observes publish-to-write latency for events published on this node. */
  publishStartedAt: Map<string, number>
  /** Skips live writes of superseded events of opted-in topics (see `conflation.ts`). */
  conflation?: Conflation | undefined
}

/** The node's subscriber registry. */
export interface FanOut {
  /**
   * Registers `session` and runs its replay (if it sent a cursor), then streams live. With
   * `mercure`, the session is a Mercure subscriber: matched by its selectors, resumed from
   * `mercure.cursor`, and sent Mercure update ids as SSE ids.
   */
  attach(
    session: Session,
    topics: readonly string[],
    principal: Principal,
    mercure?: MercureSubscription,
  ): Promise<void>
  /**
   * Forgets `session` (the stream server's `onClose` calls it). One call per close instead of
   * an abort listener per session: `session.signal` would give every idle subscriber its own
   * AbortController, EventTarget, listener maps and closure (about 0.6 KiB).
   */
  detach(session: Session): void
  /** Delivers a batch from the node tail (log order) to the matching subscribers. */
  dispatch(events: readonly StoredEvent[]): void
  /** Subscribers per requested topic. */
  countByTopic(): Map<string, number>
  /** Every subscriber, oldest first, as the dashboard's clients table shows it. */
  clients(): IterableIterator<ClientView>
  /** Number of subscribers. */
  readonly size: number
  /** The newest event this node delivered (the tail's position), if any yet. */
  readonly latest: StoredEvent | undefined
  /** Frames handed to subscribers' queues by `dispatch` so far (one per subscriber per event). */
  readonly handed: number
}

/**
 * An event validated against a registry schema carries its version as a comment line just
 * before its fields (`: schema 3`): every SSE parser ignores comments, so `data`/`event`
 * and plain `EventSource` users are untouched, while a raw-stream reader (the protocol
 * parser's `onComment`) learns the version. Events without a schema are framed as before.
 */
function withSchema(event: StoredEvent, frame: Frame): Frame {
  return event.schemaVersion === undefined
    ? frame
    : joinFrames([createCommentFrame(`schema ${event.schemaVersion}`), frame])
}

function frameOf(event: StoredEvent): Frame {
  return withSchema(
    event,
    createFrame({ id: event.id, event: event.type, data: event.data, retry: event.retry }),
  )
}

/** The frame Mercure subscribers get: the update id, not the hub cursor, as the SSE id. */
function mercureFrameOf(event: StoredEvent): Frame {
  return withSchema(
    event,
    createFrame({
      id: event.clientId ?? event.id,
      event: event.type,
      data: event.data,
      retry: event.retry,
    }),
  )
}

/** Mercure selectors share the index with Herald topics under keys no topic can have. */
const MERCURE_KEY = '\u0000mercure:'

function keysOf(mercure: MercureSubscription): string[] {
  return mercure.selectors.map((s) => `${MERCURE_KEY}${s.kind}:${s.value}`)
}

/**
 * Waits, if need be, until `session` can take `bytes` more without passing `highWater`
 * (a frame larger than the mark waits for an empty queue). `false`: the session closed.
 */
async function makeRoom(session: Session, bytes: number, highWater: number): Promise<boolean> {
  if (session.bufferedBytes + bytes <= highWater) return session.closeReason === undefined
  return session.ready(Math.max(0, highWater - bytes))
}

/** Yields to the event loop, then waits until `session` is below `highWater`. */
async function waitForRoom(session: Session, highWater: number): Promise<void> {
  // Yield between pages: a long replay must not starve other clients (and live events do
  // arrive meanwhile: the seam logic handles them).
  await new Promise((resolve) => setImmediate(resolve))
  if (session.bufferedBytes > highWater) await session.ready(highWater)
}

/** Creates the fan-out. */
export function createFanOut(options: FanOutOptions): FanOut {
  const { store, metrics } = options
  // By session: `detach` finds a closed session's subscriber.
  const subscribers = new Map<Session, Subscriber>()
  const byTopic = new Map<string, Set<Subscriber>>()
  // Wildcard patterns, grouped (subscribers mostly share a few, `orders/*`) and indexed in a
  // segment trie: an event costs the patterns it matches, not a test per distinct pattern.
  const byPattern = new Map<string, Set<Subscriber>>()
  const patterns = createPatternIndex<Set<Subscriber>>()
  // Mercure selectors (URI templates, URL patterns) cannot go in the trie: tested one by one
  // per distinct selector (their number is capped per subscription like topics).
  const bySelector = new Map<
    string,
    { matcher: Pick<TopicMatcher, 'matches'>; subs: Set<Subscriber> }
  >()
  let latest: StoredEvent | undefined
  let handed = 0
  // Subscribers asking for the same topics share one topics array (and its strings): most
  // subscribers of a node ask for one of a few lists, and an array and a string of their own
  // are about 80 bytes per idle subscriber. Counted, dropped with the last one.
  const topicLists = new Map<string, { topics: readonly string[]; refs: number }>()

  function listKey(topics: readonly string[]): string {
    return topics.length === 1 ? (topics[0] as string) : topics.join('\u0000')
  }

  function sharedTopics(topics: readonly string[]): readonly string[] {
    const key = listKey(topics)
    const found = topicLists.get(key)
    if (found !== undefined) {
      found.refs++
      return found.topics
    }
    topicLists.set(key, { topics, refs: 1 })
    return topics
  }

  function releaseTopics(topics: readonly string[]): void {
    const key = listKey(topics)
    const found = topicLists.get(key)
    if (found === undefined || found.topics !== topics) return
    if (--found.refs === 0) topicLists.delete(key)
  }

  function add(sub: Subscriber): void {
    subscribers.set(sub.session, sub)
    const mercure = sub.rare?.mercure
    if (mercure !== undefined) {
      mercure.selectors.forEach((selector, i) => {
        const key = sub.topics[i] as string
        let group = bySelector.get(key)
        if (group === undefined) {
          group = { matcher: selector, subs: new Set() }
          bySelector.set(key, group)
        }
        group.subs.add(sub)
      })
      return
    }
    for (const topic of sub.topics) {
      if (isTopicPattern(topic)) {
        let group = byPattern.get(topic)
        if (group === undefined) {
          group = new Set()
          byPattern.set(topic, group)
          patterns.add(topic, group)
        }
        group.add(sub)
        continue
      }
      let set = byTopic.get(topic)
      if (set === undefined) {
        set = new Set()
        byTopic.set(topic, set)
      }
      set.add(sub)
    }
  }

  function remove(sub: Subscriber): void {
    subscribers.delete(sub.session)
    if (sub.rare?.mercure === undefined) releaseTopics(sub.topics)
    else {
      for (const key of sub.topics) {
        const group = bySelector.get(key)
        if (group === undefined) continue
        group.subs.delete(sub)
        if (group.subs.size === 0) bySelector.delete(key)
      }
      return
    }
    for (const topic of sub.topics) {
      const group = byPattern.get(topic)
      if (group !== undefined) {
        group.delete(sub)
        if (group.size === 0) {
          byPattern.delete(topic)
          patterns.delete(topic, group)
        }
        continue
      }
      const set = byTopic.get(topic)
      if (set === undefined) continue
      set.delete(sub)
      if (set.size === 0) byTopic.delete(topic)
    }
  }

  /** The publish-to-write latency of `event`, when this node took its publish. */
  function observePublished(event: StoredEvent): void {
    const started = options.publishStartedAt.get(event.id)
    if (started === undefined) return
    options.publishStartedAt.delete(event.id)
    metrics.observePublishLatency((performance.now() - started) / 1000)
  }

  /** A private event reaches a subscriber whose token grants ANY of its topics. */
  function allowed(sub: Subscriber, event: StoredEvent): boolean {
    return !event.private || canReceivePrivate(sub.principal, topicsOf(event))
  }

  /** Replay side of a Mercure subscriber's selectors (the store filtered by `**`). */
  function selected(sub: Subscriber, event: StoredEvent): boolean {
    const mercure = sub.rare?.mercure
    if (mercure === undefined) return true
    const topics = topicsOf(event)
    for (const selector of mercure.selectors) {
      for (const topic of topics) if (selector.matches(topic)) return true
    }
    return false
  }

  function frameFor(sub: Subscriber, event: StoredEvent): Frame {
    return sub.rare?.mercure === undefined ? frameOf(event) : mercureFrameOf(event)
  }

  /** Writes `event` unless already written: `skipped`, `written`, or `closed` (session gone). */
  function write(
    sub: Subscriber,
    event: StoredEvent,
    frame: Frame,
  ): 'skipped' | 'written' | 'closed' {
    if (sub.lastId !== undefined && store.cursors.compare(event.id, sub.lastId) <= 0)
      return 'skipped'
    sub.lastId = event.id
    return sub.session.sendFrame(frame) ? 'written' : 'closed'
  }

  async function replay(sub: Subscriber, cursor: string): Promise<void> {
    const { session } = sub
    // `earliest` (as in Mercure): everything the log still holds, without a reset.
    let at: string | undefined = cursor === EARLIEST ? undefined : cursor
    for (;;) {
      const started = performance.now()
      // Mercure selectors are not Herald patterns: read everything, select here.
      const topics = sub.rare?.mercure === undefined ? sub.topics : ALL_TOPICS
      const page = await store.read(at, { topics, limit: options.replayPageSize })
      metrics.storeLatency.observe({ op: 'read' }, (performance.now() - started) / 1000)
      if (session.closeReason !== undefined) return
      if (page.kind === 'reset') {
        metrics.resets.inc({ reason: page.reason })
        session.send({
          event: RESET_EVENT,
          id: page.latestId ?? '',
          data: JSON.stringify({
            reason: page.reason,
            lastEventId: cursor,
            oldestId: page.oldestId ?? null,
            latestId: page.latestId ?? null,
          }),
        })
        sub.lastId = page.latestId
        return
      }
      let sent = 0
      for (const event of page.events) {
        if (!selected(sub, event) || !allowed(sub, event)) continue
        const frame = frameFor(sub, event)
        // A page may hold far more than the session's queue: write it as room frees up.
        if (!(await makeRoom(session, frame.bytes.byteLength, options.replayHighWaterBytes))) {
          return
        }
        const outcome = write(sub, event, frame)
        if (outcome === 'closed') return
        if (outcome === 'written') sent++
      }
      metrics.replayed.inc(sent)
      if (!page.more) return
      at = page.cursor
      await waitForRoom(session, options.replayHighWaterBytes)
    }
  }

  /** Calls `fn` for each subscriber whose topics match `topic` (once per matching topic). */
  function reach(topic: string, fn: (sub: Subscriber) => void): void {
    const exact = byTopic.get(topic)
    if (exact !== undefined) for (const sub of exact) fn(sub)
    if (patterns.size > 0) {
      patterns.match(topic, (group) => {
        for (const sub of group) fn(sub)
      })
    }
    for (const group of bySelector.values()) {
      if (group.matcher.matches(topic)) for (const sub of group.subs) fn(sub)
    }
  }

  return {
    get size() {
      return subscribers.size
    },

    get latest() {
      return latest
    },
    get handed() {
      return handed
    },

    async attach(session, herald, principal, mercure) {
      const cursor = mercure === undefined ? session.lastEventId : mercure.cursor
      const sub: Subscriber = {
        session,
        topics: mercure === undefined ? herald : keysOf(mercure),
        principal,
        rare:
          mercure === undefined && cursor === undefined
            ? undefined
            : { mercure, buffer: cursor === undefined ? undefined : [] },
        // The client has everything up to its cursor: live events the node's tail delivers
        // late (a tail behind the log) must not repeat them, even when the replay finds
        // nothing newer. A cursor the store refuses gets a reset, which moves this on.
        lastId: cursor === undefined || cursor === EARLIEST ? undefined : cursor,
        since: sinceBase(Date.now()),
      }
      // Closed before it was attached: `detach` has run already (or never will).
      if (session.closeReason !== undefined) return
      if (mercure === undefined) sub.topics = sharedTopics(herald)
      add(sub)
      if (cursor === undefined) return
      try {
        await replay(sub, cursor)
      } catch (error) {
        session.close('error')
        throw error
      }
      // Live events that arrived during the replay, written as room frees up; events still
      // arriving meanwhile join the same buffer, so order holds until it is empty.
      const buffered = sub.rare?.buffer ?? []
      for (let i = 0; i < buffered.length; i++) {
        const event = buffered[i] as StoredEvent
        if (!allowed(sub, event)) continue
        const frame = frameFor(sub, event)
        if (!(await makeRoom(session, frame.bytes.byteLength, options.replayHighWaterBytes))) {
          return
        }
        if (write(sub, event, frame) === 'closed') return
      }
      // Live now: a Herald subscriber drops the extras, a Mercure one keeps its selectors.
      if (mercure === undefined) sub.rare = undefined
      else if (sub.rare !== undefined) sub.rare.buffer = undefined
    },

    detach(session) {
      const sub = subscribers.get(session)
      if (sub !== undefined) remove(sub)
    },

    dispatch(events) {
      if (subscribers.size === 0) {
        // No one to deliver to (a hub that only takes publishes, between subscribers): the
        // tail's position and the publish latency, without a delivery closure per event.
        for (const event of events) {
          latest = event
          observePublished(event)
        }
        return
      }
      const superseded = options.conflation?.superseded(events)
      for (const event of events) {
        latest = event
        // Encoded once per event and id flavour (hub cursor, or Mercure update id).
        let frame: Frame | undefined
        let mercureFrame: Frame | undefined
        let delivered = 0
        // A later event of this batch replaces it for live subscribers (replays get it all).
        const conflated = superseded?.has(event) === true
        let dropped = 0
        const deliver = (sub: Subscriber): void => {
          if (!allowed(sub, event)) return
          const buffer = sub.rare?.buffer
          if (buffer !== undefined) {
            if (buffer.at(-1) === event) return
            buffer.push(event)
            if (buffer.length > options.maxReplayBuffer) sub.session.close('slow-consumer')
            return
          }
          if (conflated) {
            // Not written, but the subscriber is past it: counted once per subscriber.
            if (sub.lastId === undefined || store.cursors.compare(event.id, sub.lastId) > 0) {
              sub.lastId = event.id
              dropped++
            }
            return
          }
          let f: Frame
          if (sub.rare?.mercure === undefined) {
            frame ??= frameOf(event)
            f = frame
          } else {
            mercureFrame ??= mercureFrameOf(event)
            f = mercureFrame
          }
          if (write(sub, event, f) === 'written') delivered++
        }
        // A subscriber reached through several of its topics (or the event's alternates)
        // gets the event once: `write` skips ids it already wrote, and a replaying one
        // buffers it once.
        reach(event.topic, deliver)
        for (const topic of event.alternates) reach(topic, deliver)
        if (delivered > 0) {
          metrics.delivered.inc(delivered)
          handed += delivered
        }
        if (dropped > 0) metrics.conflated.inc(dropped)
        observePublished(event)
      }
    },

    *clients() {
      for (const sub of subscribers.values()) {
        yield {
          id: sub.session.id,
          ip: sub.session.info.ip,
          topics: sub.topics,
          since: SINCE_BASE + sub.since,
          queuedBytes: sub.session.bufferedBytes,
          lastEventId: sub.session.lastEventId ?? null,
          subject: sub.principal.subject ?? null,
        }
      }
    },

    countByTopic() {
      const counts = new Map<string, number>()
      for (const sub of subscribers.values()) {
        const topics = sub.rare?.mercure?.selectors.map((m) => m.value) ?? sub.topics
        for (const topic of topics) counts.set(topic, (counts.get(topic) ?? 0) + 1)
      }
      return counts
    },
  }
}
