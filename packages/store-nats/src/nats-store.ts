/**
 * The NATS JetStream event log. One stream per hub; one message per event on one subject per
 * topic (`herald.v1.<ns>.t.<encoded topic>`), so the server filters replays of a topic or
 * pattern; the stream sequence is the hub cursor. Events with alternate topics go to one
 * `herald.v1.<ns>.x` subject that every replay also reads.
 *
 * Batches: JetStream 2.9 cannot publish several messages atomically, so a batch's messages
 * carry `{ b: batch id, i: index, k: size }` and are published as a chain (each expects the
 * previous one as the stream's last message, `Nats-Expected-Last-Msg-Id`). A batch is visible
 * only when its k messages sit at k consecutive sequences; one interrupted by a failure, or by
 * another node's publish, is skipped by every reader and published again whole. A batch still
 * being written holds readers back at its first message (nothing after it is delivered before
 * it), so no reader ever sees part of a batch.
 *
 * Publisher ids (Mercure update ids): a second stream holds one message per id (subject
 * `herald.ids.v1.<ns>.<sha-256 of the id>`, one message per subject) naming the event's
 * sequence. An append claims each id first (a publish that expects the subject's last
 * sequence, so two nodes cannot both claim it), then publishes the events, then records their
 * sequences. A lookup checks that the event is still in the log, so an id resolves exactly
 * while its event is retained; the id stream's own limits keep it bounded.
 */
import { createHash, randomUUID } from 'node:crypto'
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
  deriveUpdateId,
  formatSequenceCursor,
  NO_ALTERNATES,
  parseSequenceCursor,
  parseUpdateId,
  patternCovers,
  resolveRetention,
  SEQUENCE_CURSORS,
  toStoredEvent,
} from '@herald/store'
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { createNatsBlobStore } from './nats-blob-store.js'
import { createNatsSchemaStore } from './schema-registry.js'
import { encodeTopic } from './subjects.js'

/** Options of {@link createNatsEventStore}. */
export interface NatsEventStoreOptions {
  /** NATS server URL(s), comma-separated. Default `nats://127.0.0.1:4222`. */
  url?: string | undefined
  /** Several hubs can share one NATS: each uses its own stream. `A-Z a-z 0-9 _ -`. Default `default`. */
  namespace?: string | undefined
  /**
   * Retention; defaults to 1 000 000 events and 7 days (the stream's `max_msgs` and
   * `max_age`, plus the store's own age check by its clock). Per-topic rules apply to events
   * without alternate topics.
   */
  retention?: RetentionOptions | undefined
  /** The stream's `max_bytes`. Default 512 MiB; `Infinity` lifts it. */
  maxBytes?: number | undefined
  /** Deadline of one NATS request, in ms: past it the call fails with 503. Default 2000. */
  commandTimeoutMs?: number | undefined
  /** Connection errors, for logs (the store reconnects by itself). */
  onError?: ((error: Error) => void) | undefined
  /** Largest blob (`blobs`), in bytes. Default 64 MiB. */
  maxBlobBytes?: number | undefined
  /** Bound on the blob bucket (`herald-v1-{namespace}-blobs`), in bytes. Default 1 GiB. */
  maxBlobStoreBytes?: number | undefined
  /** Clock, for tests. Defaults to `Date.now`. */
  now?: (() => number) | undefined
}

/** Default hub-wide retention of the NATS store. */
export const NATS_STORE_DEFAULT_RETENTION = { maxEvents: 1_000_000, maxAgeMs: 7 * 24 * 3600_000 }

/** The NATS {@link EventStore}. */
export interface NatsEventStore extends EventStore {
  /** The JetStream stream holding the log. */
  readonly stream: string
}

const NAMESPACE = /^[A-Za-z0-9_-]{1,64}$/
/** Messages a replay source reads by direct get before it opens a consumer for the rest. */
const DIRECT_READS = 16
const HEALTH_TIMEOUT_MS = 1000
/** Tries of a batch that other nodes' publishes keep interrupting. */
const BATCH_TRIES = 20

/** One event as its message holds it (b, i, k: batch id, index, size). */
interface Wire {
  a: number
  t: string
  d: string
  x?: string[]
  e?: string
  c?: string
  r?: number
  p?: 1
  b?: string
  i?: number
  k?: number
  /** Schema version the data was validated against. */
  s?: number
}

interface Raw {
  seq: number
  wire: Wire
}

interface Meta {
  base: number
  marks: Record<string, number>
}

/** A publisher id's record: the id, when it was claimed, and its event's sequence once known. */
interface IdRecord {
  c: string
  at: number
  s?: number
}

interface Claim {
  clientId: string
  subject: string
  seq: number
}

type Conn = { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }

/**
 * The node's tail: ONE ordered consumer on every subject of the stream, started where the
 * node's log reader reached the end of the log. Reads that continue from its position are
 * answered from what it already received (no request at all); anything else reads the stream.
 */
interface Tail {
  /** The newest sequence handed out by reads (the reader's position). */
  at: number
  /** Received, not yet read: `buffer[head..]`, in sequence order. */
  buffer: Raw[]
  head: number
  stop(): void
}

/** A tail nobody reads keeps at most this many messages, then stops. */
const TAIL_BUFFER = 20_000

function unavailable(message: string, cause?: unknown): HeraldError {
  return new HeraldError('HERALD_STORE_UNAVAILABLE', `NATS ${message}`, { status: 503, cause })
}

/** Takes `?namespace=NAME` off a URL (the NATS client would not know it). */
export function splitNamespace(url: string): { url: string; namespace: string | undefined } {
  const match = /[?&]namespace=([^&]*)/.exec(url)
  if (match === null) return { url, namespace: undefined }
  const rest = url.replace(/([?&])namespace=[^&]*&?/, '$1').replace(/[?&]$/, '')
  return { url: rest, namespace: decodeURIComponent(match[1] as string) }
}

/** `true` when some topic may match both patterns (conservative: never a false `false`). */
export function patternsIntersect(a: string, b: string): boolean {
  const x = a.split('/')
  const y = b.split('/')
  for (let i = 0; ; i++) {
    const p = x[i]
    const q = y[i]
    if (p === '**') return q !== undefined
    if (q === '**') return p !== undefined
    if (p === undefined || q === undefined) return p === q
    if (p !== '*' && q !== '*' && p !== q) return false
  }
}

/**
 * Creates a NATS JetStream {@link EventStore}. It connects in the background and reconnects
 * by itself; the stream is created on first use. While NATS is down, calls fail after
 * `commandTimeoutMs` with `HERALD_STORE_UNAVAILABLE` and `health` answers `{ ok: false }`.
 *
 * @throws {TypeError} for an invalid namespace, bound or URL.
 */
export function createNatsEventStore(options: NatsEventStoreOptions = {}): NatsEventStore {
  const given = splitNamespace(options.url ?? 'nats://127.0.0.1:4222')
  const namespace = options.namespace ?? given.namespace ?? 'default'
  if (!NAMESPACE.test(namespace)) {
    throw new TypeError('createNatsEventStore: namespace must be 1-64 of A-Z a-z 0-9 _ -')
  }
  const servers = given.url.split(',').map((s) => s.trim())
  for (const s of servers) {
    if (!/^(nats|tls):\/\//.test(s))
      throw new TypeError('createNatsEventStore: url must be nats://')
  }
  const policy = resolveRetention(options.retention, NATS_STORE_DEFAULT_RETENTION)
  const maxBytes = options.maxBytes ?? 512 * 1024 * 1024
  if (!(maxBytes > 0)) throw new TypeError('createNatsEventStore: maxBytes must be > 0')
  const now = options.now ?? Date.now
  const timeoutMs = options.commandTimeoutMs ?? 2000
  const stream = `herald-v1-${namespace}`
  const metaStream = `herald-v1-${namespace}-meta`
  const idsStream = `herald-v1-${namespace}-ids`
  const idsRoot = `herald.ids.v1.${namespace}`
  const root = `herald.v1.${namespace}`
  const mixed = `${root}.x`
  const metaSubject = `herald.meta.v1.${namespace}`
  const wakeSubject = `herald.wake.v1.${namespace}`
  const rules = policy.topics.map((rule) => ({
    ...rule,
    matcher: createTopicMatcher([rule.pattern]),
    subject: `${root}.t.${encodeTopic(rule.pattern)}`,
  }))
  const wake = createWakeSignal()
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()

  let closed = false
  let lastTime = 0
  let lastAgeCheck = Number.NEGATIVE_INFINITY
  // The newest sequence this node saw: a stream that comes back empty restarts above it.
  let highest = 0
  let meta: Meta | undefined
  let metaFor = ''
  // This log's identity in the update ids it derives (derivesUpdateIds): the first 15 hex
  // digits of a SHA-256 of the stream's name and creation time, so every node computes the
  // same id without storing one, and a stream created anew (a server that lost its data)
  // derives other ids.
  let logId = ''
  let logIdFor = ''
  function learnLogId(created: string): void {
    if (created === logIdFor) return
    logIdFor = created
    logId = createHash('sha256').update(`${stream}\n${created}`).digest('hex').slice(0, 15)
  }
  let conn: Promise<Conn> | undefined
  let ensured: Promise<void> | undefined
  let connected = false
  const reconnected: (() => void)[] = []

  /** While disconnected, nothing is sent (the client would queue it and send it later, after
   * the publisher was told 503): wait for the reconnect, up to the deadline. */
  async function whenConnected(ms: number): Promise<void> {
    if (connected) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = reconnected.indexOf(done)
        if (i >= 0) reconnected.splice(i, 1)
        reject(unavailable(`is unreachable (reconnecting to ${servers.join(', ')})`))
      }, ms)
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }
      reconnected.push(done)
    })
  }
  // Appends keep call order: single events are pipelined, a batch waits for what came
  // before it and holds back what comes after.
  let tail: Tail | undefined
  const instance = randomUUID()
  let published = 0
  let barrier: Promise<unknown> = Promise.resolve()
  let since = new Set<Promise<unknown>>()

  function assertOpen(): void {
    if (closed)
      throw new HeraldError('HERALD_STORE_CLOSED', 'the event store is closed', { status: 503 })
  }

  function connection(): Promise<Conn> {
    if (conn !== undefined) return conn
    const c = (async () => {
      const nc = await connect({
        servers,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 250,
        pingInterval: 5000,
        maxPingOut: 2,
        timeout: timeoutMs,
        name: `herald ${namespace}`,
      })
      connected = true
      ;(async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') connected = false
          else if (s.type === 'reconnect') {
            connected = true
            for (const resolve of reconnected.splice(0)) resolve()
            // The stream may have been lost with the server: check it again.
            ensured = undefined
            wake.wake()
          } else if (s.type === 'error') options.onError?.(s.error as Error)
        }
      })().catch(() => {})
      const js = jetstream(nc, { timeout: timeoutMs })
      const jsm = await jetstreamManager(nc, { timeout: timeoutMs, checkAPI: false })
      return { nc, js, jsm }
    })()
    conn = c
    c.catch(() => {
      if (conn === c) conn = undefined
    })
    return c
  }

  /** Resolves or rejects within the deadline, mapping NATS failures to 503. */
  async function bounded<T>(what: string, work: Promise<T>, ms = timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(`did not answer ${what} within ${ms} ms`)), ms)
    })
    try {
      return await Promise.race([work, deadline])
    } catch (error) {
      if (error instanceof HeraldError) throw error
      throw unavailable(`${what} failed: ${(error as Error).message}`, error)
    } finally {
      clearTimeout(timer)
    }
  }

  function streamLimits() {
    return {
      max_msgs: policy.maxEvents === Number.POSITIVE_INFINITY ? -1 : policy.maxEvents,
      max_bytes: maxBytes === Number.POSITIVE_INFINITY ? -1 : maxBytes,
      max_age: policy.maxAgeMs === Number.POSITIVE_INFINITY ? 0 : policy.maxAgeMs * 1_000_000,
      discard: DiscardPolicy.Old,
    }
  }

  async function readMeta(jsm: JetStreamManager): Promise<{ meta: Meta; seq: number } | undefined> {
    const m = await jsm.direct.getMessage(metaStream, { last_by_subj: metaSubject })
    if (m === null) return undefined
    return { meta: JSON.parse(decoder.decode(m.data)) as Meta, seq: m.seq }
  }

  async function writeMeta(c: Conn, update: (m: Meta) => Meta): Promise<Meta> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const current = await readMeta(c.jsm)
      const next = update(current?.meta ?? { base: 1, marks: {} })
      try {
        await c.js.publish(metaSubject, JSON.stringify(next), {
          expect: { lastSubjectSequence: current?.seq ?? 0 },
        })
        return next
      } catch (error) {
        if (!/wrong last sequence/i.test((error as Error).message)) throw error
      }
    }
    throw unavailable('meta update kept conflicting')
  }

  /** Makes sure both streams exist; a new log starts above every id issued before. */
  function ensure(): Promise<void> {
    if (ensured !== undefined) return ensured
    const e = (async () => {
      const c = await connection()
      const { jsm } = c
      try {
        await jsm.streams.info(metaStream)
      } catch {
        await jsm.streams
          .add({
            name: metaStream,
            subjects: [metaSubject],
            max_msgs_per_subject: 1,
            allow_direct: true,
            storage: StorageType.File,
          })
          .catch(() => {})
      }
      try {
        await jsm.streams.info(idsStream)
      } catch {
        await jsm.streams
          .add({
            name: idsStream,
            subjects: [`${idsRoot}.*`],
            max_msgs_per_subject: 1,
            allow_direct: true,
            storage: StorageType.File,
            // Bounded like the log (a lookup checks the event itself is still there).
            ...streamLimits(),
          })
          .catch(() => {})
      }
      const subjects = [`${root}.t.>`, mixed]
      for (let attempt = 0; ; attempt++) {
        let info: Awaited<ReturnType<JetStreamManager['streams']['info']>> | undefined
        try {
          info = await jsm.streams.info(stream)
        } catch {
          info = undefined
        }
        if (info?.config.subjects?.includes(mixed)) {
          learnLogId(info.created)
          return
        }
        if (info !== undefined || attempt > 0) {
          // Another node is creating it: wait for its subjects.
          if (attempt > 50) throw unavailable(`stream ${stream} is stuck half-created`)
          await new Promise((resolve) => setTimeout(resolve, 100))
          if (info !== undefined) continue
        }
        // Created on a subject nobody publishes to, moved to its first sequence, then
        // opened: no publish can land below the start. A fresh log starts from the clock
        // (now x 1000) or above what this node saw, so ids never go backwards even when the
        // server lost its data.
        try {
          await jsm.streams.add({
            name: stream,
            subjects: [`${root}.init`],
            retention: RetentionPolicy.Limits,
            storage: StorageType.File,
            allow_direct: true,
            // Message ids (one per message, for the batch chains) are remembered this long.
            duplicate_window: Math.min(10_000, policy.maxAgeMs) * 1_000_000,
            ...streamLimits(),
          })
        } catch (error) {
          if (!/already in use|exists/i.test((error as Error).message)) {
            throw unavailable(`cannot create stream ${stream}: ${(error as Error).message}`, error)
          }
          continue
        }
        const start = Math.max(Math.floor(now()) * 1000, highest + 1, 1)
        await jsm.streams.purge(stream, { seq: start })
        await writeMeta(c, () => ({ base: start, marks: {} }))
        const created = await jsm.streams.info(stream)
        learnLogId(created.created)
        await jsm.streams.update(stream, { ...created.config, subjects })
        return
      }
    })()
    ensured = e
    e.catch(() => {
      if (ensured === e) ensured = undefined
    })
    return e
  }

  // The connection last found ready, and for which connection and stream check: the hot path
  // (connected, stream known) then costs no timer and no await.
  let readyConn: { c: Conn; conn: Promise<Conn>; ensured: Promise<void> } | undefined

  async function ready(): Promise<Conn> {
    assertOpen()
    const r = readyConn
    if (r !== undefined && connected && r.conn === conn && r.ensured === ensured) return r.c
    const pending = connection()
    const c = await bounded('connecting', pending)
    await whenConnected(timeoutMs)
    const e = ensure()
    await bounded('opening the stream', e)
    readyConn = { c, conn: pending, ensured: e }
    return c
  }

  // One wakeup per event-loop turn, however many appends the turn made.
  let wakeQueued: Conn | undefined
  function wakeOthers(c: Conn): void {
    if (wakeQueued !== undefined) return
    wakeQueued = c
    setImmediate(() => {
      wakeQueued = undefined
      c.nc.publish(wakeSubject)
    })
  }

  /** Stream state and this log's meta (base, per-topic marks). */
  async function state(jsm: JetStreamManager) {
    const info = await jsm.streams.info(stream)
    learnLogId(info.created)
    if (meta === undefined || metaFor !== info.created || rules.length > 0) {
      meta = (await readMeta(jsm))?.meta ?? { base: 1, marks: {} }
      metaFor = info.created
    }
    const { first_seq: first, last_seq: last, messages } = info.state
    if (last > highest) highest = last
    return { first, last, messages, meta }
  }

  function decode(data: Uint8Array): Wire {
    return JSON.parse(decoder.decode(data)) as Wire
  }

  function toEvent(seq: number, w: Wire): StoredEvent {
    return {
      id: formatSequenceCursor(seq),
      topic: w.t,
      alternates: w.x === undefined ? NO_ALTERNATES : w.x,
      data: w.d,
      type: w.e,
      clientId: w.c ?? deriveUpdateId(logId, seq),
      retry: w.r,
      private: w.p === 1,
      publishedAt: w.a,
      schemaVersion: w.s,
    }
  }

  function wireOf(input: AppendInput, t: number): Wire {
    const w: Wire = { a: t, t: input.topic, d: input.data }
    if (input.alternates !== undefined && input.alternates.length > 0) w.x = [...input.alternates]
    if (input.type !== undefined) w.e = input.type
    if (input.clientId !== undefined) w.c = input.clientId
    if (input.retry !== undefined) w.r = input.retry
    if (input.private === true) w.p = 1
    if (input.schemaVersion !== undefined) w.s = input.schemaVersion
    return w
  }

  function subjectOf(input: AppendInput): string {
    return input.alternates !== undefined && input.alternates.length > 0
      ? mixed
      : `${root}.t.${encodeTopic(input.topic)}`
  }

  function payloadOf(c: Conn, w: Wire): Uint8Array {
    const payload = encoder.encode(JSON.stringify(w))
    const max = c.nc.info?.max_payload ?? 1024 * 1024
    if (payload.length > max - 512) {
      throw new HeraldError(
        'HERALD_PAYLOAD_TOO_LARGE',
        `the event is ${payload.length} bytes as stored; this NATS server takes messages of at most ${max} bytes (max_payload)`,
        { status: 413 },
      )
    }
    return payload
  }

  /** Up to `max` messages of `subject` from `from` to `last`, and whether it stopped early. */
  async function collect(c: Conn, subject: string, from: number, last: number, max: number) {
    const messages: Raw[] = []
    let at = from
    // A rare topic costs a few direct gets, whatever the size of the log.
    while (messages.length < Math.min(max, DIRECT_READS)) {
      if (at > last) return { messages, full: false }
      const m = await c.jsm.direct.getMessage(stream, { seq: at, next_by_subj: subject })
      if (m === null || m.seq > last) return { messages, full: false }
      messages.push({ seq: m.seq, wire: decode(m.data) })
      at = m.seq + 1
    }
    if (messages.length >= max) return { messages, full: true }
    if (at > last) return { messages, full: false }
    // A long replay: one consumer for the rest of the page.
    const info = await c.jsm.consumers.add(stream, {
      filter_subject: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: at,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: 30_000_000_000,
    })
    try {
      const want = Math.min(info.num_pending, max - messages.length)
      if (want > 0) {
        const consumer = await c.js.consumers.get(stream, info.name)
        for await (const m of await consumer.fetch({ max_messages: want, expires: timeoutMs })) {
          if (m.seq > last) break
          messages.push({ seq: m.seq, wire: decode(m.data) })
          if (messages.length >= max) break
        }
      }
      // num_pending is only a hint (2.9 can count one short): confirm the end by direct get,
      // never claim to have reached `last` without having seen it.
      for (at = (messages.at(-1)?.seq ?? at - 1) + 1; messages.length < max && at <= last; ) {
        const m = await c.jsm.direct.getMessage(stream, { seq: at, next_by_subj: subject })
        if (m === null || m.seq > last) break
        messages.push({ seq: m.seq, wire: decode(m.data) })
        at = m.seq + 1
      }
      return { messages, full: messages.length >= max }
    } finally {
      c.jsm.consumers.delete(stream, info.name).catch(() => {})
    }
  }

  /** Per-topic rules: past a rule's maxEvents, delete its oldest messages and mark the rule. */
  async function pruneRules(c: Conn, touched: readonly AppendInput[]): Promise<void> {
    for (const rule of rules) {
      if (rule.maxEvents === Number.POSITIVE_INFINITY) continue
      if (!touched.some((e) => subjectOf(e) !== mixed && rule.matcher.matches(e.topic))) continue
      const info = await c.jsm.consumers.add(stream, {
        filter_subject: rule.subject,
        deliver_policy: DeliverPolicy.All,
        ack_policy: AckPolicy.None,
        mem_storage: true,
        num_replicas: 1,
        headers_only: true,
        inactive_threshold: 30_000_000_000,
      })
      try {
        const excess = info.num_pending - rule.maxEvents
        if (excess <= 0) continue
        const consumer = await c.js.consumers.get(stream, info.name)
        let through = 0
        let n = 0
        for await (const m of await consumer.fetch({ max_messages: excess, expires: timeoutMs })) {
          through = m.seq
          if (++n >= excess) break
        }
        if (through === 0) continue
        // Marked before the delete: a reader never misses a deletion it should reset for.
        await writeMeta(c, (m) => ({
          ...m,
          marks: { ...m.marks, [rule.pattern]: Math.max(m.marks[rule.pattern] ?? 0, through) },
        }))
        await c.jsm.streams.purge(stream, { filter: rule.subject, seq: through + 1 })
      } finally {
        c.jsm.consumers.delete(stream, info.name).catch(() => {})
      }
    }
  }

  /** Age by this store's clock (the stream's max_age uses the server's): at most once a second. */
  async function pruneAge(c: Conn, first: number, last: number, t: number): Promise<boolean> {
    if (policy.maxAgeMs === Number.POSITIVE_INFINITY || t - lastAgeCheck < 1000) return false
    lastAgeCheck = t
    const cutoff = t - policy.maxAgeMs
    let through = 0
    for (let seq = first; seq <= last; ) {
      const m = await c.jsm.direct.getMessage(stream, { seq, next_by_subj: `${root}.>` })
      if (m === null || decode(m.data).a >= cutoff) break
      through = m.seq
      seq = m.seq + 1
    }
    if (through === 0) return false
    await c.jsm.streams.purge(stream, { seq: through + 1 })
    return true
  }

  async function publishOne(c: Conn, input: AppendInput, t: number): Promise<StoredEvent[]> {
    const payload = payloadOf(c, wireOf(input, t))
    // Every message carries a message id: the server remembers the last one, and a batch's
    // next part expects its predecessor's id there, so a single landing in the middle of a
    // chain (from any node) must change it.
    const ack = await bounded(
      'the append',
      c.js.publish(subjectOf(input), payload, {
        timeout: timeoutMs,
        msgID: `${instance}.${++published}`,
      }),
    )
    if (ack.seq > highest) highest = ack.seq
    return [toStoredEvent(input, ack.seq, t, input.clientId ?? deriveUpdateId(logId, ack.seq))]
  }

  async function publishBatch(
    c: Conn,
    inputs: readonly AppendInput[],
    t: number,
  ): Promise<StoredEvent[]> {
    const k = inputs.length
    for (let attempt = 0; attempt < BATCH_TRIES; attempt++) {
      const b = randomUUID()
      const payloads = inputs.map((input, i) => payloadOf(c, { ...wireOf(input, t), b, i, k }))
      const acks = await Promise.allSettled(
        inputs.map((input, i) =>
          c.js.publish(subjectOf(input), payloads[i] as Uint8Array, {
            timeout: timeoutMs,
            msgID: `${b}.${i}`,
            ...(i > 0 ? { expect: { lastMsgID: `${b}.${i - 1}` } } : {}),
          }),
        ),
      )
      const failed = acks.find((a) => a.status === 'rejected')
      if (failed === undefined) {
        const seqs = acks.map((a) => (a as PromiseFulfilledResult<{ seq: number }>).value.seq)
        const first = seqs[0] as number
        if (first + k - 1 > highest) highest = first + k - 1
        return inputs.map((input, i) =>
          toStoredEvent(input, first + i, t, input.clientId ?? deriveUpdateId(logId, first + i)),
        )
      }
      const reason = (failed as PromiseRejectedResult).reason as Error
      // Interrupted by another node's publish: the parts already written stay invisible.
      if (!/wrong last msg ?id/i.test(reason.message ?? '')) {
        throw reason instanceof HeraldError
          ? reason
          : unavailable(`append failed: ${reason.message}`, reason)
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)))
    }
    throw unavailable('the batch kept being interrupted by other publishes; try again')
  }

  /** A publisher id's subject in the id stream. */
  function idSubject(clientId: string): string {
    return `${idsRoot}.${createHash('sha256').update(clientId).digest('base64url')}`
  }

  /** What the id stream says of `clientId`: its record and the record's stream sequence. */
  async function idRecord(c: Conn, clientId: string) {
    const m = await c.jsm.direct.getMessage(idsStream, { last_by_subj: idSubject(clientId) })
    if (m === null) return undefined
    return { seq: m.seq, record: JSON.parse(decoder.decode(m.data)) as IdRecord }
  }

  /** The sequence of the retained event whose publisher id is `clientId`, if any. */
  async function liveSeq(c: Conn, clientId: string, found: Awaited<ReturnType<typeof idRecord>>) {
    const s = found?.record.s
    if (s === undefined) return undefined
    const m = await c.jsm.direct.getMessage(stream, { seq: s }).catch(() => null)
    if (m === null || m.seq !== s || decode(m.data).c !== clientId) return undefined
    return s
  }

  /**
   * Claims the batch's publisher ids, or refuses the batch (409) when one repeats a retained
   * event's, another of the batch, or one another append is claiming right now. A claim is a
   * publish that expects the id's subject to be as it was read, so two nodes cannot both win.
   */
  async function claimIds(c: Conn, inputs: readonly AppendInput[]): Promise<Claim[]> {
    const ids = new Set<string>()
    const duplicate = (id: string) =>
      new HeraldError(
        'HERALD_DUPLICATE_EVENT_ID',
        `an event with id ${JSON.stringify(id)} is already in the log: update ids are unique`,
        { status: 409 },
      )
    for (const input of inputs) {
      if (input.clientId === undefined) continue
      if (ids.has(input.clientId)) throw duplicate(input.clientId)
      // The form of the ids this log derives: one of them, now or later.
      if (parseUpdateId(logId, input.clientId) !== undefined) throw duplicate(input.clientId)
      ids.add(input.clientId)
    }
    const t = Math.floor(now())
    const found = await Promise.all([...ids].map((id) => idRecord(c, id)))
    const list = [...ids]
    const live = await Promise.all(list.map((id, i) => liveSeq(c, id, found[i])))
    for (let i = 0; i < list.length; i++) {
      const id = list[i] as string
      const f = found[i]
      if (live[i] !== undefined) throw duplicate(id)
      // Being claimed by an append that has not finished (nor given up) yet.
      if (f !== undefined && f.record.s === undefined && t - f.record.at < 2 * timeoutMs) {
        throw duplicate(id)
      }
    }
    const settled = await Promise.allSettled(
      list.map(async (id, i): Promise<Claim> => {
        const subject = idSubject(id)
        const record: IdRecord = { c: id, at: t }
        try {
          const ack = await c.js.publish(subject, JSON.stringify(record), {
            expect: { lastSubjectSequence: found[i]?.seq ?? 0 },
            timeout: timeoutMs,
          })
          return { clientId: id, subject, seq: ack.seq }
        } catch (error) {
          if (/wrong last sequence/i.test((error as Error).message)) throw duplicate(id)
          throw error
        }
      }),
    )
    const claims: Claim[] = []
    for (const r of settled) if (r.status === 'fulfilled') claims.push(r.value)
    const failed = settled.find((r) => r.status === 'rejected')
    if (failed !== undefined) {
      releaseIds(c, claims)
      throw failed.reason
    }
    return claims
  }

  /** Gives claims back after a failed append (best effort: a stale claim expires anyway). */
  function releaseIds(c: Conn, claims: readonly Claim[]): void {
    for (const claim of claims) {
      c.jsm.streams.purge(idsStream, { filter: claim.subject }).catch(() => {})
    }
  }

  /** Names each event's sequence under its id: claimed ids expect their claim, generated ones
   * (which nobody else can hold) are written as they are. */
  async function recordIds(
    c: Conn,
    claims: readonly Claim[],
    inputs: readonly AppendInput[],
    events: readonly StoredEvent[],
  ) {
    const claimed = new Map(claims.map((claim) => [claim.clientId, claim]))
    await Promise.all(
      events.map((event, i) => {
        const id = inputs[i]?.clientId
        if (id === undefined) return undefined
        const claim = claimed.get(id)
        const record: IdRecord = { c: id, at: event.publishedAt, s: Number(event.id) }
        return c.js.publish(claim?.subject ?? idSubject(id), JSON.stringify(record), {
          ...(claim === undefined ? {} : { expect: { lastSubjectSequence: claim.seq } }),
          timeout: timeoutMs,
        })
      }),
    )
  }

  async function appendNow(inputs: readonly AppendInput[]): Promise<StoredEvent[]> {
    const c = await ready()
    // Ids the hub generated cannot repeat: only the publishers' are claimed first.
    const given = inputs.filter((i) => i.clientId !== undefined && i.clientIdGenerated !== true)
    const claims =
      given.length > 0 ? await bounded('claiming publisher ids', claimIds(c, given)) : []
    const t = Math.max(Math.floor(now()), lastTime)
    lastTime = t
    let out: StoredEvent[]
    try {
      out =
        inputs.length === 1
          ? await publishOne(c, inputs[0] as AppendInput, t)
          : await publishBatch(c, inputs, t)
    } catch (error) {
      // The stream may have been lost (a server that came back empty): check it next time.
      ensured = undefined
      releaseIds(c, claims)
      throw error
    }
    // Derived ids are not recorded: an event without a publisher id is ONE JetStream publish.
    if (inputs.some((e) => e.clientId !== undefined)) {
      await bounded('recording publisher ids', recordIds(c, claims, inputs, out))
    }
    wakeOthers(c)
    if (rules.length > 0) await bounded('per-topic retention', pruneRules(c, inputs))
    if (policy.maxAgeMs !== Number.POSITIVE_INFINITY && t - lastAgeCheck >= 1000) {
      const s = await bounded('reading the stream', state(c.jsm))
      await bounded('age retention', pruneAge(c, s.first, s.last, t))
    }
    return out
  }

  function append(inputs: readonly AppendInput[]): Promise<StoredEvent[]> {
    try {
      assertOpen()
    } catch (error) {
      return Promise.reject(error)
    }
    if (inputs.length === 0) return Promise.resolve([])
    if (inputs.length === 1) {
      const wait = barrier
      const p = wait.then(() => appendNow(inputs))
      const settled = p.then(
        () => {},
        () => {},
      )
      since.add(settled)
      settled.then(() => since.delete(settled))
      return p
    }
    const wait = barrier
    const before = [...since]
    since = new Set()
    const p = (async () => {
      await wait
      await Promise.all(before)
      return appendNow(inputs)
    })()
    barrier = p.then(
      () => {},
      () => {},
    )
    return p
  }

  /**
   * Whether the batch message `m` is whole: 'yes', 'no' (interrupted) or 'pending'. Its parts
   * were published as a chain (each accepted only right after the previous one), so the batch
   * is whole exactly when its LAST part sits where it should: one lookup per batch.
   */
  async function batchState(
    c: Conn,
    m: Raw,
    known: Map<number, Raw>,
    last: number,
    verdicts: Map<string, string>,
  ) {
    const { b, i, k } = m.wire as Required<Pick<Wire, 'b' | 'i' | 'k'>>
    const cached = verdicts.get(b)
    if (cached !== undefined) return cached
    const end = m.seq - i + k - 1
    let verdict: string
    if (end > last) verdict = 'pending'
    else if (end === m.seq) verdict = 'yes'
    else {
      let other = known.get(end)
      if (other === undefined) {
        const got = await c.jsm.direct.getMessage(stream, { seq: end })
        // Deleted by retention since: the chain was accepted up to there.
        if (got !== null) other = { seq: got.seq, wire: decode(got.data) }
      }
      verdict = other === undefined || (other.wire.b === b && other.wire.i === k - 1) ? 'yes' : 'no'
    }
    verdicts.set(b, verdict)
    return verdict
  }

  async function read(cursor: string | undefined, filter: ReadFilter): Promise<ReadResult> {
    assertOpen()
    const matcher = createTopicMatcher(filter.topics)
    const limit = Math.max(1, Math.floor(filter.limit))
    const c = await ready()
    let s = await bounded('reading the stream', state(c.jsm))
    if (await bounded('age retention', pruneAge(c, s.first, s.last, Math.floor(now())))) {
      s = await bounded('reading the stream', state(c.jsm))
    }
    const { first, last, messages } = s
    const base = s.meta.base
    const issued = last >= base
    const latestId = issued ? formatSequenceCursor(last) : undefined
    const reset = (reason: 'expired' | 'unknown'): ReadResult => ({
      kind: 'reset',
      reason,
      oldestId: messages > 0 ? formatSequenceCursor(first) : undefined,
      latestId,
    })
    let after = 0
    if (cursor !== undefined) {
      const n = parseSequenceCursor(cursor)
      if (n === undefined) return reset('unknown')
      if (n !== 0 && (!issued || n > last || n < base)) return reset('unknown')
      after = n === 0 ? (issued ? base - 1 : 0) : n
      if (after < first - 1 && issued) return reset('expired')
      for (const [pattern, through] of Object.entries(s.meta.marks)) {
        if (through > after && filter.topics.some((p) => patternsIntersect(p, pattern))) {
          return reset('expired')
        }
      }
    }
    const everything = filter.topics.includes('**')
    // Answered from the tail consumer when it continues from the reader's position and has
    // received at least what the stream held when this read began.
    if (everything && tail !== undefined && tail.at === after && after > 0) {
      const newest = tail.buffer.length > tail.head ? (tail.buffer.at(-1) as Raw).seq : tail.at
      if (newest >= last) return fromTail(tail, cursor, limit)
    }
    const page = await readStream(c, cursor, after, first, last, filter, matcher, limit)
    // The reader reached the end of the log: follow it from there with the tail consumer.
    if (everything && page.kind === 'events' && !page.more) {
      startTail(c, page.cursor === undefined ? after : (parseSequenceCursor(page.cursor) ?? after))
    }
    return page
  }

  /** What the tail consumer received after its position, as one page. */
  function fromTail(t: Tail, cursor: string | undefined, limit: number): ReadResult {
    const events: StoredEvent[] = []
    const end = t.buffer.length
    const start = t.head
    let i = start
    const find = (seq: number): Raw | undefined => {
      // Binary search: the buffer is in sequence order.
      let lo = t.head
      let hi = end - 1
      while (lo <= hi) {
        const mid = (lo + hi) >> 1
        const m = t.buffer[mid] as Raw
        if (m.seq === seq) return m
        if (m.seq < seq) lo = mid + 1
        else hi = mid - 1
      }
      return undefined
    }
    for (; i < end && events.length < limit; i++) {
      const m = t.buffer[i] as Raw
      const w = m.wire
      if (w.k !== undefined && w.k > 1) {
        const lastPart = m.seq - (w.i ?? 0) + w.k - 1
        const newest = (t.buffer[end - 1] as Raw).seq
        if (lastPart > newest) break // still being written: hold back here
        const other = find(lastPart)
        // Absent but older than what arrived: deleted by retention since.
        const whole = other === undefined || (other.wire.b === w.b && other.wire.i === w.k - 1)
        if (!whole) continue
      }
      events.push(toEvent(m.seq, w))
    }
    if (i > start) t.at = (t.buffer[i - 1] as Raw).seq
    t.head = i
    if (t.head > 1024 && t.head * 2 > t.buffer.length) {
      t.buffer = t.buffer.slice(t.head)
      t.head = 0
    }
    const more = events.length === limit && t.head < t.buffer.length
    return { kind: 'events', events, cursor: i > start ? formatSequenceCursor(t.at) : cursor, more }
  }

  /** (Re)starts the tail consumer after `at`, unless it is already there. */
  function startTail(c: Conn, at: number): void {
    if (closed || (tail !== undefined && tail.at === at)) return
    tail?.stop()
    const t: Tail = { at, buffer: [], head: 0, stop: () => {} }
    let stopped = false
    t.stop = () => {
      stopped = true
    }
    tail = t
    void (async () => {
      const consumer = await c.js.consumers.get(stream, {
        filter_subjects: `${root}.>`,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: at + 1,
      })
      const messages = await consumer.consume({ max_messages: 1000 })
      t.stop = () => {
        stopped = true
        messages.stop()
      }
      if (stopped) messages.stop()
      for await (const m of messages) {
        if (stopped) break
        t.buffer.push({ seq: m.seq, wire: decode(m.data) })
        if (m.seq > highest) highest = m.seq
        if (t.buffer.length - t.head > TAIL_BUFFER) break
        wake.wake()
      }
      messages.stop()
      if (tail === t) tail = undefined
    })().catch(() => {
      if (tail === t) tail = undefined
    })
  }

  async function readStream(
    c: Conn,
    cursor: string | undefined,
    after: number,
    first: number,
    last: number,
    filter: ReadFilter,
    matcher: { matches(topic: string): boolean },
    limit: number,
  ): Promise<ReadResult> {
    const from = Math.max(after + 1, first)
    if (from > last) return { kind: 'events', events: [], cursor, more: false }
    // Sources: one subject per pattern (none covered by another), plus the mixed subject.
    let sources: string[]
    if (filter.topics.includes('**')) sources = [`${root}.>`]
    else {
      const kept = filter.topics.filter(
        (p, i) =>
          !filter.topics.some((q, j) => j !== i && patternCovers(q, p) && (p !== q || j < i)),
      )
      sources = [...kept.map((p) => `${root}.t.${encodeTopic(p)}`), mixed]
    }
    const results = await bounded(
      'the replay',
      Promise.all(sources.map((subject) => collect(c, subject, from, last, limit))),
    )
    // Merge: everything up to the first source that stopped early is complete.
    let horizon = last
    for (const r of results) if (r.full) horizon = Math.min(horizon, (r.messages.at(-1) as Raw).seq)
    const known = new Map<number, Raw>()
    for (const r of results) for (const m of r.messages) known.set(m.seq, m)
    const ordered = [...known.values()]
      .filter((m) => m.seq <= horizon)
      .sort((x, y) => x.seq - y.seq)
    const events: StoredEvent[] = []
    const verdicts = new Map<string, string>()
    let reached = horizon
    for (const m of ordered) {
      const w = m.wire
      if (!matcher.matches(w.t) && !(w.x ?? []).some((x) => matcher.matches(x))) continue
      if (w.k !== undefined && w.k > 1) {
        const whole = await bounded('the replay', batchState(c, m, known, last, verdicts))
        if (whole === 'pending') {
          // Hold back at the batch's first message until it is complete.
          reached = m.seq - (w.i ?? 0) - 1
          break
        }
        if (whole === 'no') continue
      }
      if (events.length === limit) {
        return { kind: 'events', events, cursor: (events.at(-1) as StoredEvent).id, more: true }
      }
      events.push(toEvent(m.seq, w))
    }
    const more = reached < horizon ? false : horizon < last
    if (reached <= after) return { kind: 'events', events, cursor, more: false }
    return { kind: 'events', events, cursor: formatSequenceCursor(reached), more }
  }

  const store: NatsEventStore = {
    stream,
    cursors: SEQUENCE_CURSORS,
    derivesUpdateIds: true,
    blobs: createNatsBlobStore({
      connection: async () => (await ready()).nc,
      bucket: `herald-v1-${namespace}-blobs`,
      maxBlobBytes: options.maxBlobBytes,
      maxTotalBytes: options.maxBlobStoreBytes,
    }),
    schemas: createNatsSchemaStore({
      namespace,
      now,
      assertOpen,
      ready,
      bounded: (what, work) => bounded(what, work),
    }),
    append,
    read,

    watch(signal) {
      const inner = wake.watch(signal)
      const subscribed = (async () => {
        const { nc } = await connection()
        const sub = nc.subscribe(wakeSubject, { callback: () => wake.wake() })
        signal.addEventListener('abort', () => sub.unsubscribe(), { once: true })
        await nc.flush()
      })()
      return {
        async *[Symbol.asyncIterator]() {
          await subscribed
          if (signal.aborted) return
          yield
          for await (const _ of inner) {
            if (signal.aborted) return
            yield
          }
        },
      }
    },

    async findCursor(clientId) {
      const c = await ready()
      // Age by this store's clock first, so an id resolves exactly while its event is retained.
      const s = await bounded('reading the stream', state(c.jsm))
      await bounded('age retention', pruneAge(c, s.first, s.last, Math.floor(now())))
      const derived = parseUpdateId(logId, clientId)
      if (derived !== undefined) {
        // A derived id: its event, while retained, whole and without a publisher id.
        const got = await bounded(
          'the id lookup',
          c.jsm.direct.getMessage(stream, { seq: derived }).catch(() => null),
        )
        if (got === null || got.seq !== derived) return undefined
        const m: Raw = { seq: got.seq, wire: decode(got.data) }
        if (m.wire.c !== undefined) return undefined
        if (m.wire.k !== undefined && m.wire.k > 1) {
          const whole = await bounded(
            'the id lookup',
            batchState(c, m, new Map(), s.last, new Map()),
          )
          if (whole !== 'yes') return undefined
        }
        return formatSequenceCursor(derived)
      }
      const seq = await bounded(
        'the id lookup',
        idRecord(c, clientId).then((found) => liveSeq(c, clientId, found)),
      )
      return seq === undefined ? undefined : formatSequenceCursor(seq)
    },

    async health(): Promise<StoreHealth> {
      assertOpen()
      try {
        const c = await bounded('connecting', connection(), HEALTH_TIMEOUT_MS)
        if (!connected) return { ok: false, reason: 'NATS is unreachable (reconnecting)' }
        await bounded('opening the stream', ensure(), HEALTH_TIMEOUT_MS)
        const s = await bounded('reading the stream', state(c.jsm), HEALTH_TIMEOUT_MS)
        return {
          ok: true,
          oldestId: s.messages > 0 ? formatSequenceCursor(s.first) : undefined,
          latestId: s.last >= s.meta.base ? formatSequenceCursor(s.last) : undefined,
        }
      } catch (error) {
        if (closed) throw error
        return { ok: false, reason: (error as Error).message }
      }
    },

    async close() {
      if (closed) return
      closed = true
      tail?.stop()
      tail = undefined
      wake.close()
      const c = conn
      conn = undefined
      if (c !== undefined) {
        const got = await c.catch(() => undefined)
        await got?.nc.close().catch(() => {})
      }
    },
  }
  return store
}
