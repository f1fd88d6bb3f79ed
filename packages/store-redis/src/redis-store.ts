/**
 * The Redis Streams event log: every node of a hub appends to one stream through a Lua
 * script that assigns the next hub-wide sequence number, so ids are unique and totally
 * ordered across nodes. Replays of exact topics (and of patterns that match few topics) read
 * per-topic index streams, so their cost follows the matching events, not the log.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { HeraldError } from '@herald/protocol'
import type {
  AppendInput,
  EventStore,
  ReadFilter,
  ReadResult,
  RetentionOptions,
  StoredEvent,
  StoreHealth,
} from '@herald/store'
import {
  createTopicMatcher,
  createWakeSignal,
  formatSequenceCursor,
  isTopicPattern,
  NO_ALTERNATES,
  parseSequenceCursor,
  resolveRetention,
  SEQUENCE_CURSORS,
  schemaRevisionConflict,
  toStoredEvent,
} from '@herald/store'
import {
  createRedisConnection,
  type RedisArg,
  type RedisConnection,
  type RedisConnectionOptions,
} from './connection.js'
import { createRedisBlobStore } from './redis-blob-store.js'
import { createRedisSchemaStore } from './schema-registry.js'
import { APPEND_SCRIPT, FIND_SCRIPT, READ_SCRIPT } from './scripts.js'
import type {
  RedisIdempotencyOptions,
  RedisRateLimitOptions,
  SharedIdempotencyCache,
  SharedRateLimiter,
} from './shared-limits.js'
import { createRedisIdempotencyCache, createRedisRateLimiter } from './shared-limits.js'

/** Options of {@link createRedisEventStore}. */
export interface RedisEventStoreOptions {
  /** Redis URL. Default `redis://127.0.0.1:6379`. */
  url?: string | undefined
  /**
   * Several hubs can share one Redis: each uses keys `herald:v1:{namespace}:*`. Letters,
   * digits, `.`, `_` and `-`. Default `default`.
   */
  namespace?: string | undefined
  /** Retention; defaults to 1 000 000 events and 7 days. */
  retention?: RetentionOptions | undefined
  /**
   * Bound on the log's size in bytes (payload, topics and metadata, plus 64 per event): the
   * oldest events go first past it. Default 512 MiB. `Infinity` lifts it.
   */
  maxBytes?: number | undefined
  /** Deadline of one Redis command, in ms: past it the call fails with 503. Default 2000. */
  commandTimeoutMs?: number | undefined
  /** Longest pause between reconnection attempts, in ms. Default 2000. */
  maxBackoffMs?: number | undefined
  /**
   * A pattern read merges the index streams of the topics it matches while there are at
   * most this many; past it, it walks the log. Default 256.
   */
  indexLimit?: number | undefined
  /** Log entries a pattern read walks per page before answering "go on". Default 5000. */
  scanBudget?: number | undefined
  /** Connection errors, for logs (the store reconnects by itself). */
  onError?: ((error: Error) => void) | undefined
  /**
   * TLS for a `rediss://` URL: `ca`, and `cert` + `key` for client certificates (Node's
   * `tls.connect` options). Default: Node's trusted CAs (`NODE_EXTRA_CA_CERTS` adds one).
   */
  tls?: RedisConnectionOptions['tls']
  /** Largest blob (`blobs`), in bytes. Default 16 MiB. */
  maxBlobBytes?: number | undefined
  /** Clock, for tests. Defaults to `Date.now`. */
  now?: (() => number) | undefined
}

/** Default hub-wide retention of the Redis store. */
export const REDIS_STORE_DEFAULT_RETENTION = { maxEvents: 1_000_000, maxAgeMs: 7 * 24 * 3600_000 }

/** The Redis {@link EventStore}, with the key prefix it writes under. */
export interface RedisEventStore extends EventStore {
  /** `herald:v1:{namespace}:`. */
  readonly prefix: string
  /** The connection, shared with the idempotency cache and the rate limiter. */
  readonly connection: RedisConnection
  /**
   * A publish rate limiter shared by every node on this Redis (`herald serve` uses it when the
   * store has it: on Redis the limit is per caller for the whole hub, not per node).
   */
  sharedRateLimiter(options: RedisRateLimitOptions): SharedRateLimiter
  /** An Idempotency-Key cache shared by every node on this Redis. */
  sharedIdempotencyCache<T>(options?: RedisIdempotencyOptions): SharedIdempotencyCache<T>
}

type Entry = [id: string, fields: string[]]

/** `/readyz` must answer promptly, even while Redis is slow. */
const HEALTH_TIMEOUT_MS = 1000

const NAMESPACE = /^[A-Za-z0-9._-]{1,64}$/

// Lone surrogates: the script's JSON decoder refuses their escapes, and UTF-8 (what a plain
// argument would have been) cannot hold them either: both become U+FFFD.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

function wellFormed(s: string): string {
  return LONE_SURROGATE.test(s) ? s.replace(/[\uD800-\uDFFF]/gu, '\uFFFD') : s
}

/** Events one append script call carries at most (a longer turn makes several calls). */
const MAX_EVENTS_PER_CALL = 1000

function bound(value: number): string {
  return value === Number.POSITIVE_INFINITY ? '-1' : String(value)
}

/**
 * The update ids of the log incarnation `epoch` (a random UUID): the log id is its first 15
 * hex digits, as `@herald/store` `deriveUpdateId` builds them (the append script checks the
 * same form). The prefix is built once per epoch.
 */
let derivedFor = ''
let derivedPrefix = ''
function derivedId(epoch: string, seq: number): string {
  if (epoch !== derivedFor) {
    const hex = epoch.replace(/-/g, '')
    derivedPrefix = `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(12, 15)}-8`
    derivedFor = epoch
  }
  const s = seq.toString(16).padStart(15, '0')
  return `${derivedPrefix}${s.slice(0, 3)}-${s.slice(3)}`
}

function toEvent(entry: Entry, epoch: string): StoredEvent {
  const [id, raw] = entry
  let topic = ''
  let data = ''
  let alternates: readonly string[] = NO_ALTERNATES
  let type: string | undefined
  let clientId: string | undefined
  let retry: number | undefined
  let isPrivate = false
  let publishedAt = 0
  let schemaVersion: number | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const value = raw[i + 1] as string
    switch (raw[i]) {
      case 't':
        topic = value
        break
      case 'd':
        data = value
        break
      case 'x':
        alternates = value.split('\n')
        break
      case 'e':
        type = value
        break
      case 'c':
        clientId = value
        break
      case 'r':
        retry = Number(value)
        break
      case 'p':
        isPrivate = true
        break
      case 'a':
        publishedAt = Number(value)
        break
      case 's':
        schemaVersion = Number(value)
        break
    }
  }
  const seq = Number(id.slice(0, id.indexOf('-')))
  return {
    id: formatSequenceCursor(seq),
    topic,
    alternates,
    data,
    type,
    clientId: clientId ?? derivedId(epoch, seq),
    retry,
    private: isPrivate,
    publishedAt,
    schemaVersion,
  }
}

/** Takes `?namespace=NAME` off a URL (the Redis client would not know it). */
export function splitNamespace(url: string): { url: string; namespace: string | undefined } {
  const match = /[?&]namespace=([^&]*)/.exec(url)
  if (match === null) return { url, namespace: undefined }
  const rest = url.replace(/([?&])namespace=[^&]*&?/, '$1').replace(/[?&]$/, '')
  return { url: rest, namespace: decodeURIComponent(match[1] as string) }
}

/** The ZRANGEBYLEX bounds holding every topic `pattern` can match. */
function prefixRange(pattern: string): [RedisArg, RedisArg] {
  const segments = pattern.split('/')
  const literal: string[] = []
  for (const s of segments) {
    if (s === '*' || s === '**') break
    literal.push(s)
  }
  if (literal.length === 0) return ['-', '+']
  const prefix = Buffer.from(`${literal.join('/')}/`)
  // 0xff never occurs in UTF-8: every topic starting with the prefix sorts below it.
  return [
    Buffer.concat([Buffer.from('['), prefix]),
    Buffer.concat([Buffer.from('['), prefix, Buffer.from([0xff])]),
  ]
}

/**
 * Creates a Redis {@link EventStore}. It connects in the background and reconnects by
 * itself; while Redis is down, calls fail after `commandTimeoutMs` with
 * `HERALD_STORE_UNAVAILABLE` and {@link EventStore.health} answers `{ ok: false }`.
 *
 * @throws {TypeError} for an invalid namespace, bound or URL.
 */
export function createRedisEventStore(options: RedisEventStoreOptions = {}): RedisEventStore {
  const given = splitNamespace(options.url ?? 'redis://127.0.0.1:6379')
  const url = given.url
  if (!/^rediss?:\/\//.test(url))
    throw new TypeError('createRedisEventStore: url must be redis:// or rediss://')
  const namespace = options.namespace ?? given.namespace ?? 'default'
  if (!NAMESPACE.test(namespace)) {
    throw new TypeError('createRedisEventStore: namespace must be 1-64 of A-Z a-z 0-9 . _ -')
  }
  const policy = resolveRetention(options.retention, REDIS_STORE_DEFAULT_RETENTION)
  const maxBytes = options.maxBytes ?? 512 * 1024 * 1024
  if (!(maxBytes > 0)) throw new TypeError('createRedisEventStore: maxBytes must be > 0')
  const now = options.now ?? Date.now
  const indexLimit = options.indexLimit ?? 256
  const scanBudget = options.scanBudget ?? 5000
  const prefix = `herald:v1:{${namespace}}:`
  const commandTimeoutMs = options.commandTimeoutMs ?? 2000
  const connection = createRedisConnection({
    url,
    commandTimeoutMs,
    maxBackoffMs: options.maxBackoffMs ?? 2000,
    onError: options.onError,
    tls: options.tls,
  })
  const retentionArgs: string[] = [
    bound(policy.maxEvents),
    bound(policy.maxAgeMs),
    bound(maxBytes),
    String(policy.topics.length),
  ]
  for (const rule of policy.topics) {
    retentionArgs.push(rule.pattern, bound(rule.maxEvents), bound(rule.maxAgeMs))
  }
  const wake = createWakeSignal()
  // The schema revision this node last learned from Redis (appends answer it).
  const schemaState: { known: number | undefined } = { known: undefined }
  // What this node has seen of the log: a log that comes back empty (Redis restarted
  // without persistence, or flushed) starts above `highest`, so ids never go backwards.
  let epoch = ''
  let highest = 0
  let closed = false

  function assertOpen(): void {
    if (closed)
      throw new HeraldError('HERALD_STORE_CLOSED', 'the event store is closed', { status: 503 })
  }

  // The node tail's read-back, answered from this node's own appends: `tip` holds the events
  // of the log with sequence numbers lo + 1 .. hi, all of them (the append script assigned
  // them in one run, after lo, and retention deleted none of them in it), until the tail
  // reads past them (then it holds none, lo = hi). A read of every topic from a cursor in
  // [lo, hi) is answered from it, and one from hi with nothing (while no other node has
  // announced an append past hi, this node's next events come with its next append's answer,
  // which wakes the tail again): no round trip, no read script, no reply to parse. Everything
  // else reads Redis.
  let tip: { epoch: string; lo: number; hi: number; events: StoredEvent[] } | undefined
  /** Most events `tip` holds (a tail that stopped reading must not grow it forever). */
  const TIP_LIMIT = 10_000
  // This node's id in the wake announcements of its appends (`<seq> <node>`).
  const node = randomBytes(6).toString('hex')
  // The newest sequence number another node announced on the wake channel, and the newest
  // this node woke its own watchers for (after its append answered). A wakeup announcing no
  // more than the latter is redundant: a read started after the local wakeup sees that far.
  let heard = 0
  let wokenThrough = 0

  function onWake(message: unknown): void {
    const text = String(message)
    const space = text.indexOf(' ')
    // This node's own append: its answer wakes the watchers, with the events for the tail's
    // read-back (`tip`). Waking on the announcement, which may arrive first on the other
    // connection, would send the tail to Redis for them; counting it in `heard` would make the
    // tail distrust `tip`. (An append that got no answer wakes them itself, in `send`.)
    if (space !== -1 && text.slice(space + 1) === node) return
    const seq = Number(space === -1 ? text : text.slice(0, space))
    if (seq > heard) heard = seq
    if (!(seq <= wokenThrough)) wake.wake()
  }

  function onWakeChannelReady(): void {
    // Announcements may have been missed while the channel was down: read Redis.
    tip = undefined
    wake.wake()
  }

  /**
   * Keeps a call's events for the tail, then wakes this node's watchers. `deleted`: the newest
   * sequence number the call's retention deleted (older events of `tip` may be among them).
   */
  function remember(
    logEpoch: string,
    expected: string,
    lo: number,
    events: StoredEvent[],
    deleted: number,
  ): void {
    const hi = lo + events.length
    if (tip !== undefined && deleted > tip.lo) {
      if (deleted >= tip.hi) tip = undefined
      else {
        tip.events = tip.events.slice(deleted - tip.lo)
        tip.lo = deleted
      }
    }
    if (expected === '' || expected !== logEpoch || deleted > lo) {
      // A log that changed under this node (or whose epoch it did not know yet), or a call
      // whose retention deleted some of its own events: the tail reads Redis.
      tip = undefined
    } else if (tip !== undefined && tip.epoch === logEpoch && tip.hi === lo) {
      if (tip.events.length + events.length > TIP_LIMIT) tip = undefined
      else {
        for (const e of events) tip.events.push(e)
        tip.hi = hi
      }
    } else tip = { epoch: logEpoch, lo, hi, events }
    if (hi > wokenThrough) wokenThrough = hi
    wake.wake()
  }

  /** The tail's read from `tip`, or `undefined` when it does not cover the cursor. */
  function readTip(cursor: string | undefined, filter: ReadFilter): ReadResult | undefined {
    if (tip === undefined || cursor === undefined) return undefined
    if (filter.topics.length !== 1 || filter.topics[0] !== '**') return undefined
    const c = parseSequenceCursor(cursor)
    if (c === undefined || c < tip.lo || c > tip.hi) return undefined
    // Another node appended since: its retention may have deleted some of these; read Redis.
    if (heard > tip.hi) return undefined
    // Everything this node appended was read: a wakeup before the next append answered (the
    // tail would otherwise read the call in flight from Redis, and then be a step ahead of
    // `tip` for good).
    if (c === tip.hi) return { kind: 'events', events: [], cursor, more: false }
    const from = c - tip.lo
    const take = Math.min(Math.max(1, Math.floor(filter.limit)), tip.hi - c)
    const events =
      from === 0 && take === tip.events.length ? tip.events : tip.events.slice(from, from + take)
    const reached = c + take
    const more = reached < tip.hi
    // Read past: the tail does not come back for these.
    if (reached === tip.hi) tip = { epoch: tip.epoch, lo: reached, hi: reached, events: [] }
    return { kind: 'events', events, cursor: formatSequenceCursor(reached), more }
  }

  /**
   * The schema revision a batch was validated against, as the append script takes it: '' when
   * unchecked; one revision for all its events ('-1', always refused, should they differ).
   */
  function revisionOf(inputs: readonly AppendInput[]): string {
    const first = (inputs[0] as AppendInput).schemaRevision
    for (let i = 1; i < inputs.length; i++) {
      if ((inputs[i] as AppendInput).schemaRevision !== first) return '-1'
    }
    return first === undefined ? '' : String(first)
  }

  function seen(seq: number, logEpoch: string): void {
    if (seq > highest) highest = seq
    if (logEpoch !== '') epoch = logEpoch
  }

  interface Pending {
    inputs: readonly AppendInput[]
    /** When append was called: the deadline counts from here, waiting included. */
    at: number
    resolve(events: StoredEvent[]): void
    reject(error: unknown): void
  }
  // Appends wait for the end of the event-loop turn, and for the script call in flight, then
  // go to Redis in one script call: a hub publishing from many connections pays one round
  // trip and one script run per call, not per publish (Redis runs the calls of one connection
  // in order anyway, so waiting for the previous answer delays nothing). Each batch stays
  // all-or-none and contiguous.
  let queue: Pending[] = []
  let scheduled = false
  let sending = false
  const inFlight = new Set<Promise<void>>()

  function append(inputs: readonly AppendInput[]): Promise<StoredEvent[]> {
    try {
      assertOpen()
    } catch (error) {
      return Promise.reject(error)
    }
    if (inputs.length === 0) return Promise.resolve([])
    return new Promise((resolve, reject) => {
      queue.push({ inputs, at: Date.now(), resolve, reject })
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    })
  }

  function flush(): void {
    scheduled = false
    if (sending || queue.length === 0) return
    // A long queue goes out in several calls rather than one script that holds Redis up.
    let take = 0
    let events = 0
    while (take < queue.length && (take === 0 || events < MAX_EVENTS_PER_CALL)) {
      events += (queue[take] as Pending).inputs.length
      take++
    }
    const batches = queue.slice(0, take)
    queue = queue.slice(take)
    sending = true
    const sent = send(batches)
      .catch((error: unknown) => {
        for (const b of batches) b.reject(error)
      })
      .finally(() => {
        sending = false
        flush()
      })
    inFlight.add(sent)
    void sent.then(() => inFlight.delete(sent))
  }

  async function send(batches: readonly Pending[]): Promise<void> {
    const expected = epoch
    const args: RedisArg[] = [
      prefix,
      expected,
      randomUUID(),
      String(highest),
      String(now()),
      node,
      ...retentionArgs,
    ]
    const packed: (string | string[])[][] = []
    for (const { inputs } of batches) {
      const batch: (string | string[])[] = [revisionOf(inputs)]
      for (const input of inputs) {
        batch.push([
          wellFormed(input.topic),
          input.alternates === undefined ? '' : wellFormed(input.alternates.join('\n')),
          wellFormed(input.data),
          input.type === undefined ? '' : `=${wellFormed(input.type)}`,
          input.clientId === undefined
            ? ''
            : `${input.clientIdGenerated === true ? '+' : '='}${wellFormed(input.clientId)}`,
          input.retry === undefined ? '' : String(input.retry),
          input.private === true ? '1' : '',
          input.schemaVersion === undefined ? '' : String(input.schemaVersion),
        ])
      }
      packed.push(batch)
    }
    args.push(JSON.stringify(packed))
    let reply: (string | number | [string] | [string, number])[]
    try {
      // The deadline runs from the oldest append of the call, its wait included.
      const left = commandTimeoutMs - (Date.now() - (batches[0] as Pending).at)
      reply = await connection.script<(string | number | [string] | [string, number])[]>(
        APPEND_SCRIPT,
        args,
        Math.max(1, left),
      )
    } catch (error) {
      for (const b of batches) b.reject(error)
      // The script may have run (a deadline passed, the connection dropped after sending):
      // its own announcement was ignored, so the watchers read the log to find out.
      tip = undefined
      wake.wake()
      return
    }
    const logEpoch = reply[0] as string
    const t = Number(reply[1])
    const deleted = Number(reply[3])
    schemaState.known = Number(reply[4])
    let newest = 0
    let lo = -1
    const appended: StoredEvent[] = []
    batches.forEach((batch, i) => {
      const first = reply[5 + i]
      if (Array.isArray(first)) {
        if (first.length === 2) {
          batch.reject(schemaRevisionConflict(Number(revisionOf(batch.inputs)), Number(first[1])))
          return
        }
        batch.reject(
          new HeraldError(
            'HERALD_DUPLICATE_EVENT_ID',
            `an event with id ${JSON.stringify(first[0])} is already in the log: update ids are unique`,
            { status: 409 },
          ),
        )
        return
      }
      const firstSeq = Number(first)
      if (lo < 0) lo = firstSeq - 1
      newest = firstSeq + batch.inputs.length - 1
      const events = batch.inputs.map((input, j) =>
        toStoredEvent(input, firstSeq + j, t, input.clientId ?? derivedId(logEpoch, firstSeq + j)),
      )
      for (const e of events) appended.push(e)
      batch.resolve(events)
    })
    seen(newest, logEpoch)
    if (lo < 0) return
    // The call's events are contiguous (a refused batch takes no sequence numbers).
    remember(logEpoch, expected, lo, appended, deleted)
  }

  async function runRead(
    cursor: number,
    filter: ReadFilter,
    mode: string,
    timeoutMs?: number,
  ): Promise<unknown[]> {
    const exact: string[] = []
    const patterns: string[] = []
    const prefixes: RedisArg[] = []
    for (const topic of filter.topics) {
      if (!isTopicPattern(topic)) exact.push(topic)
      else {
        patterns.push(topic)
        prefixes.push(...prefixRange(topic))
      }
    }
    const all = filter.topics.includes('**')
    const args: RedisArg[] = [
      prefix,
      String(now()),
      ...retentionArgs,
      String(cursor),
      String(Math.max(1, Math.floor(filter.limit))),
      String(scanBudget),
      String(indexLimit),
      mode === 'bounds' ? mode : all ? 'all' : 'topics',
      String(patterns.length),
      ...patterns,
      String(exact.length),
      ...exact,
      String(prefixes.length),
      ...prefixes,
    ]
    return connection.script<unknown[]>(READ_SCRIPT, args, timeoutMs)
  }

  const optionalId = (s: string): string | undefined =>
    s === '' ? undefined : formatSequenceCursor(Number(s))

  const store: RedisEventStore = {
    prefix,
    connection,
    blobs: createRedisBlobStore(connection, prefix, options.maxBlobBytes),
    sharedRateLimiter: (limits) => createRedisRateLimiter(connection, prefix, limits),
    sharedIdempotencyCache: (idempotency) =>
      createRedisIdempotencyCache(connection, prefix, idempotency),
    cursors: SEQUENCE_CURSORS,
    derivesUpdateIds: true,
    schemas: createRedisSchemaStore(connection, prefix, { now, assertOpen, state: schemaState }),
    append,

    async read(cursor, filter): Promise<ReadResult> {
      assertOpen()
      const own = readTip(cursor, filter)
      if (own !== undefined) return own
      createTopicMatcher(filter.topics)
      let c = -1
      if (cursor !== undefined) c = parseSequenceCursor(cursor) ?? -2
      const reply = await runRead(c, filter, 'read')
      if (reply[0] === 'reset') {
        const [, reason, oldest, latest, logEpoch] = reply as [
          string,
          'expired' | 'unknown',
          string,
          string,
          string,
        ]
        if (latest !== '') seen(Number(latest), logEpoch)
        return { kind: 'reset', reason, oldestId: optionalId(oldest), latestId: optionalId(latest) }
      }
      const [, reached, more, logEpoch, latest] = reply as [string, string, number, string, string]
      if (latest !== '') seen(Number(latest), logEpoch)
      const events: StoredEvent[] = []
      for (let i = 5; i < reply.length; i++) events.push(toEvent(reply[i] as Entry, logEpoch))
      return {
        kind: 'events',
        events,
        cursor: reached === '' ? cursor : formatSequenceCursor(Number(reached)),
        more: more === 1,
      }
    },

    watch(signal) {
      const inner = wake.watch(signal)
      const subscribed = connection.subscribe(`${prefix}wake`, onWake, onWakeChannelReady)
      return {
        async *[Symbol.asyncIterator]() {
          await subscribed
          if (signal.aborted) return
          // Subscribed now: one wakeup covers whatever was appended before.
          yield
          for await (const _ of inner) {
            if (signal.aborted) return
            yield
          }
        },
      }
    },

    async findCursor(clientId) {
      assertOpen()
      const id = await connection.script<string | null>(FIND_SCRIPT, [
        prefix,
        String(now()),
        ...retentionArgs,
        clientId,
      ])
      return id === null ? undefined : formatSequenceCursor(Number(id.slice(0, id.indexOf('-'))))
    },

    async health(): Promise<StoreHealth> {
      assertOpen()
      try {
        const reply = await runRead(-1, { topics: ['**'], limit: 1 }, 'bounds', HEALTH_TIMEOUT_MS)
        const [, oldest, latest, logEpoch] = reply as string[]
        if (latest !== undefined && latest !== '') seen(Number(latest), logEpoch ?? '')
        return { ok: true, oldestId: optionalId(oldest ?? ''), latestId: optionalId(latest ?? '') }
      } catch (error) {
        if (closed) throw error
        return { ok: false, reason: (error as Error).message }
      }
    },

    async close() {
      if (closed) return
      closed = true
      // Appends already accepted still go out, then the connection closes.
      flush()
      while (inFlight.size > 0) await Promise.all(inFlight)
      wake.close()
      await connection.close()
    },
  }
  return store
}
