/**
 * One event-stream session: a byte queue in front of a transport, flushed with one write per
 * event-loop turn, bounded (past `maxQueueBytes` the session is cut off as a slow consumer).
 *
 * A class rather than closures: with 10 000+ idle sessions per process, one hidden class with
 * fixed fields is the smallest shape V8 offers, and the rarely used parts (AbortController,
 * the `closed` promise, the URL) are created only when someone asks for them.
 */
import { type EventInit, encodeComment, encodeEventBytes, toBytes } from '@herald/protocol'
import { shared } from './frame.js'
import { ownerWritten, type Sink, type SinkOwner } from './sink.js'
import type { CloseReason, Frame, Session, SessionInfo } from './types.js'

/** What a session needs from the server that owns it. */
export interface SessionHost {
  /** Per-session bound on queued plus transport-buffered bytes. */
  readonly maxQueueBytes: number
  /**
   * Frames queued in every session of the host and not yet handed to a transport: sessions
   * add what they queue and take off what they hand over or drop.
   */
  framesQueued: number
  /** Puts the session on the list flushed at the end of this event-loop turn. */
  schedule(session: StreamSession): void
  /**
   * Ends `sink` and tracks it until its transport lets go, so that a drain can wait for the
   * last bytes (the jittered retry hint) to leave before the process exits.
   */
  ending(sink: Sink): void
  /**
   * The session closed: forget it, release its limits, run hooks, log, count. `bufferedBytes`
   * is what it held at that moment (now released).
   */
  released(session: StreamSession, reason: CloseReason, error: unknown, bufferedBytes: number): void
}

const CLOSE_REASONS: ReadonlySet<string> = new Set([
  'client',
  'server',
  'slow-consumer',
  'drain',
  'error',
  'expired',
])

/**
 * Session times are kept as milliseconds since this module loaded: small integers, which V8
 * stores in the object itself, where a Date.now() value (past 2^31) takes a 16-byte heap
 * number per field per session. (After 24 days of uptime they grow past a small integer too:
 * still correct, boxed again.)
 */
const TIME_BASE = Date.now()

/**
 * `now` as ms since TIME_BASE, made an int32 while it is one (the first 24.8 days): a Date.now() difference is a
 * double to the optimizing compiler, which stores it in a field as a 16-byte heap number (one
 * per field, on every session that flushed) even when its value is a small integer; `| 0`
 * makes it one it stores in the object itself.
 */
function sinceBase(now: number): number {
  const ms = now - TIME_BASE
  const small = ms | 0
  return small === ms ? small : ms
}

const idPrefix = Math.floor(Math.random() * 0xffffffff).toString(36)
let nextId = 0

/**
 * What a queued frame pins beyond its bytes, for the bound: a queue slot here, then while the
 * write is in flight the transport's entry for it and its `uv_buf_t`. An estimate on the high
 * side, so that a flood of tiny frames is bounded too.
 */
export const FRAME_OVERHEAD_BYTES = 64

/**
 * Small frames are joined into one private buffer (one `write` instead of a `writev` of
 * many): a copy this small costs less than the per-chunk work, and with one write in flight
 * per session it pins at most this much per session.
 */
const JOIN_MAX_BYTES = 16 * 1024

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = shared(new Uint8Array(total))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/**
 * The parts of a session that most idle subscribers never use, kept out of the session object
 * (six fields, 48 bytes on every session otherwise).
 */
interface SessionExtras {
  controller: AbortController | undefined
  closedPromise: Promise<CloseReason> | undefined
  resolveClosed: ((reason: CloseReason) => void) | undefined
  /** Producers waiting in ready(). */
  waiters: { limit: number; resolve: (open: boolean) => void }[] | undefined
  poll: ReturnType<typeof setInterval> | undefined
  /** Why the session closed; set once, when it closes (the sink goes at the same moment). */
  reason: CloseReason | undefined
}

/**
 * @internal The implementation behind {@link Session}. Abstract: each host makes its own
 * subclass with {@link sessionClass}, which keeps the host on the prototype rather than in
 * every session.
 */
export abstract class StreamSession implements Session, SinkOwner {
  readonly lastEventId: string | undefined
  readonly info: SessionInfo
  // Time the headers went out, and of the last write: ms since TIME_BASE.
  private readonly opened: number
  private lastWrite: number
  // Bytes handed to the transport, for the close log line.
  private sent = 0
  /** @internal On the host's flush list. */
  dirty = false
  /** @internal Frames queued since the last flush (metrics). */
  frames = 0

  private readonly seq: number
  // The transport; `undefined` once closed (the reason is then in `extra`).
  private sink: Sink | undefined
  /** The server that owns the session (see {@link sessionClass}). */
  protected abstract get host(): SessionHost
  // The queue: most turns carry one frame, kept as it is; an array from the second one.
  private queue: Uint8Array | Uint8Array[] | undefined = undefined
  private queued = 0
  // Transport-buffered bytes as of the last flush; re-read when it could trip the limit.
  private sinkBuffered = 0
  // Frames handed to the transport whose write has not completed (0: none in flight).
  private inFlight = 0
  // The write-completion callback, made on the first flush (idle sessions never need one)
  // for sinks that cannot tell the session themselves (ownerWritten).
  private onWritten: (() => void) | undefined = undefined
  // What few sessions use (signal, closed, ready, the close reason): one object, made on
  // first use.
  private extra: SessionExtras | undefined = undefined

  constructor(info: SessionInfo, lastEventId: string | undefined, now: number, sink: Sink) {
    this.seq = ++nextId
    this.info = info
    this.lastEventId = lastEventId
    this.opened = sinceBase(now)
    this.lastWrite = this.opened
    this.sink = sink
  }

  /** @internal Time the headers went out (ms since epoch). */
  get openedAt(): number {
    return TIME_BASE + this.opened
  }

  /** @internal Time of the last write (ms since epoch), for idle heartbeats. */
  get lastWriteAt(): number {
    return TIME_BASE + this.lastWrite
  }

  // The id string is built when asked for (logs, apps), not kept on every idle session.
  get id(): string {
    return `${idPrefix}-${this.seq.toString(36)}`
  }

  private extras(): SessionExtras {
    this.extra ??= {
      controller: undefined,
      closedPromise: undefined,
      resolveClosed: undefined,
      waiters: undefined,
      poll: undefined,
      reason: undefined,
    }
    return this.extra
  }

  get signal(): AbortSignal {
    const extra = this.extras()
    if (extra.controller === undefined) {
      extra.controller = new AbortController()
      if (this.sink === undefined) extra.controller.abort()
    }
    return extra.controller.signal
  }

  get closed(): Promise<CloseReason> {
    const extra = this.extras()
    if (extra.closedPromise === undefined) {
      const reason = extra.reason
      extra.closedPromise =
        reason !== undefined
          ? Promise.resolve(reason)
          : new Promise((resolve) => {
              extra.resolveClosed = resolve
            })
    }
    return extra.closedPromise
  }

  get closeReason(): CloseReason | undefined {
    return this.extra?.reason
  }

  /** Bytes handed to the transport so far (headers not counted). */
  get bytesSent(): number {
    return this.sent
  }

  get bufferedBytes(): number {
    return this.sink === undefined ? 0 : this.queued + this.sink.buffered
  }

  /** @internal Bytes this session pins: its queue, the transport's buffer, per-frame overhead. */
  private pinned(extra: number): number {
    return (
      this.queued +
      extra +
      this.sinkBuffered +
      (this.frames + this.inFlight + 1) * FRAME_OVERHEAD_BYTES
    )
  }

  ready(maxBufferedBytes?: number): Promise<boolean> {
    if (this.sink === undefined) return Promise.resolve(false)
    const limit = maxBufferedBytes ?? Math.floor(this.host.maxQueueBytes / 2)
    if (!Number.isFinite(limit) || limit < 0) {
      throw new TypeError('ready: maxBufferedBytes must be a non-negative number')
    }
    if (this.bufferedBytes <= limit) return Promise.resolve(true)
    const extra = this.extras()
    if (extra.waiters === undefined) {
      extra.waiters = []
      this.sink.onDrain(() => this.wakeWaiters())
    }
    const waiters = extra.waiters
    // Transports only announce a drain when a write overflowed their own high-water mark:
    // a light poll covers limits below it, for as long as someone waits.
    if (extra.poll === undefined) {
      extra.poll = setInterval(() => this.wakeWaiters(), 25)
      // Waiting for room is no reason to keep a process alive.
      ;(extra.poll as { unref?: () => void }).unref?.()
    }
    return new Promise((resolve) => waiters.push({ limit, resolve }))
  }

  private wakeWaiters(): void {
    const extra = this.extra
    if (extra === undefined) return
    const waiters = extra.waiters
    if (waiters !== undefined && waiters.length > 0) {
      const buffered = this.bufferedBytes
      for (let i = waiters.length - 1; i >= 0; i--) {
        const waiter = waiters[i] as { limit: number; resolve: (open: boolean) => void }
        if (buffered <= waiter.limit) {
          waiters.splice(i, 1)
          waiter.resolve(true)
        }
      }
    }
    if ((waiters === undefined || waiters.length === 0) && extra.poll !== undefined) {
      clearInterval(extra.poll)
      extra.poll = undefined
    }
  }

  send(event: EventInit): boolean {
    if (this.sink === undefined) return false
    return this.enqueue(shared(encodeEventBytes(event)))
  }

  sendFrame(frame: Frame): boolean {
    if (this.sink === undefined) return false
    return this.enqueue(frame.bytes)
  }

  comment(text = ''): boolean {
    if (this.sink === undefined) return false
    return this.enqueue(toBytes(encodeComment(text)))
  }

  private enqueue(bytes: Uint8Array): boolean {
    const size = bytes.byteLength
    if (size === 0) return true
    const max = this.host.maxQueueBytes
    if (this.pinned(size) > max) {
      // The cached transport figure may be stale (the peer read since): look again first.
      this.sinkBuffered = this.sink === undefined ? 0 : this.sink.buffered
      if (this.pinned(size) > max) {
        this.close('slow-consumer')
        return false
      }
    }
    this.queued += size
    this.frames++
    this.host.framesQueued++
    const queue = this.queue
    if (queue === undefined) this.queue = bytes
    else if (Array.isArray(queue)) queue.push(bytes)
    else this.queue = [queue, bytes]
    if (!this.dirty) {
      this.dirty = true
      this.host.schedule(this)
    }
    return true
  }

  /**
   * @internal Hands everything queued to the transport in ONE write: the frame itself, a join
   * of small frames, or a `writev` of the shared frames. Returns the frames written (0 when
   * the queue is empty or the previous write is still in flight).
   */
  private handOff(sink: Sink, done: (() => void) | undefined): number {
    const queue = this.queue
    if (queue === undefined) return 0
    const frames = this.frames
    const bytes = this.queued
    this.sent += bytes
    this.queue = undefined
    this.queued = 0
    this.frames = 0
    this.host.framesQueued -= frames
    // In flight before writing: a transport may report completion synchronously (Fetch).
    if (done !== undefined) this.inFlight = frames
    if (!Array.isArray(queue)) sink.write(queue, done)
    else if (bytes <= JOIN_MAX_BYTES) sink.write(concat(queue, bytes), done)
    else sink.writev(queue, done)
    return frames
  }

  /**
   * @internal Writes everything queued in ONE transport write, unless the previous write is
   * still in flight (the peer is not reading): then the frames wait here, shared, and go out
   * together once it completes. Returns the bytes written. Called by the host once per
   * event-loop turn.
   */
  flush(now: number): number {
    this.dirty = false
    const sink = this.sink
    if (sink === undefined || this.inFlight > 0 || this.queue === undefined) return 0
    const bytes = this.queued
    // A sink that reports writes to its owner needs no callback; for the others, a bound
    // method (72 bytes with its bound arguments) rather than an arrow function (a function
    // and its context, about 110): every session that got a heartbeat keeps one.
    if (sink.reportsWrites === true) this.handOff(sink, ownerWritten)
    else {
      this.onWritten ??= this.written.bind(this)
      this.handOff(sink, this.onWritten)
    }
    this.lastWrite = sinceBase(now)
    this.sinkBuffered = sink.buffered
    if (this.pinned(0) > this.host.maxQueueBytes) this.close('slow-consumer')
    else if (this.extra?.waiters !== undefined) this.wakeWaiters()
    return bytes
  }

  /** @internal The transport took the last write: send what queued up meanwhile. */
  written(): void {
    this.inFlight = 0
    const sink = this.sink
    if (sink === undefined) return
    this.sinkBuffered = sink.buffered
    if (this.queue !== undefined && !this.dirty) {
      this.dirty = true
      this.host.schedule(this)
    }
  }

  close(reason: CloseReason = 'server'): void {
    if (!CLOSE_REASONS.has(reason)) throw new TypeError(`unknown close reason '${reason}'`)
    this.finish(reason, undefined)
  }

  /** @internal The transport went away on its own. */
  transportClosed(reason: 'client' | 'error', error?: unknown): void {
    this.finish(reason, error)
  }

  private finish(reason: CloseReason, error: unknown): void {
    const sink = this.sink
    if (sink === undefined) return
    // Closed from here on: no sink (what every check reads), and the reason kept aside.
    this.sink = undefined
    this.extras().reason = reason
    const bufferedBytes = this.queued + sink.buffered
    try {
      if (reason === 'server' || reason === 'drain' || reason === 'expired') {
        this.handOff(sink, undefined)
        this.host.ending(sink)
      } else {
        // Slow consumer, error, client gone: drop the queue and the transport's buffers now.
        sink.destroy()
      }
    } catch (cause) {
      error ??= cause
    }
    this.queue = undefined
    this.queued = 0
    this.host.framesQueued -= this.frames
    this.frames = 0
    this.sinkBuffered = 0
    this.inFlight = 0
    this.host.released(this, reason, error, bufferedBytes)
    const extra = this.extra
    if (extra !== undefined) {
      extra.controller?.abort()
      const waiters = extra.waiters
      extra.waiters = undefined
      if (waiters !== undefined) for (const waiter of waiters) waiter.resolve(false)
      if (extra.poll !== undefined) clearInterval(extra.poll)
      extra.poll = undefined
      extra.resolveClosed?.(reason)
      extra.resolveClosed = undefined
    }
  }
}

/**
 * @internal Closes `session` with reason `error`, logging `error`: for adapters whose
 * application handler threw. Sessions from elsewhere are closed plainly.
 */
export function failSession(session: Session, error: unknown): void {
  if (session instanceof StreamSession) session.transportClosed('error', error)
  else session.close('error')
}

/** @internal The constructor {@link sessionClass} returns. */
export type SessionClass = new (
  info: SessionInfo,
  lastEventId: string | undefined,
  now: number,
  sink: Sink,
) => StreamSession

/**
 * @internal The session class of `host`: its sessions reach the host through the prototype,
 * one getter per host instead of a field (8 bytes) in every session.
 */
export function sessionClass(host: SessionHost): SessionClass {
  return class HostedSession extends StreamSession {
    protected get host(): SessionHost {
      return host
    }
  }
}
