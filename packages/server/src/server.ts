/**
 * createStreamServer: admission, the session registry, limits, the once-per-turn flush, the
 * idle heartbeat sweep, drain and close. Transport adapters live in their own files and call
 * into the {@link ServerCore} this builds.
 */
import type { HeraldErrorCode } from '@herald/protocol'
import { type AdmissionPolicy, admit, type Decision, type RequestView } from './admission.js'
import { assertCompressionAvailable } from './compression.js'
import {
  type ConnectionGuard,
  createConnectionGuard,
  defaultMaxPending,
} from './connection-guard.js'
import { createCorsPolicy } from './cors.js'
import { createCommentFrame, createRetryFrame } from './frame.js'
import { requestTarget } from './info.js'
import { type SessionHost, type StreamSession, sessionClass } from './session.js'
import type { Sink, SinkOwner } from './sink.js'
import type {
  DrainOptions,
  Frame,
  Logger,
  ServerMetrics,
  SessionInfo,
  StreamServerOptions,
} from './types.js'

/** @internal What transport adapters use. */
export interface ServerCore {
  decide(request: RequestView, extraHeaders: Readonly<Record<string, string>> | undefined): Decision
  /** Frame sent right after the headers (retry hint), if any. */
  readonly initialFrame: Frame | undefined
  /** Registers a session over an opened transport; runs `onOpen`. */
  open(
    info: SessionInfo,
    lastEventId: string | undefined,
    sink: Sink & { attach(owner: SinkOwner): void },
  ): StreamSession | undefined
  /** Gives back a slot reserved by `decide` when the transport died before `open`. */
  unreserve(ip: string): void
  readonly logger: Logger
  readonly compression: false | { encodings: readonly ('br' | 'gzip')[] }
  /** Counts a refusal. */
  refused(code: HeraldErrorCode, ip: string): void
  /** Sockets that have not sent a request head yet, against the connection limits. */
  readonly guard: ConnectionGuard
}

/** How long the flush's write rate is measured before it is folded into the estimate, in ms. */
const RATE_WINDOW_MS = 200

const silent: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
}

const schedule: (callback: () => void) => void =
  typeof setImmediate === 'function'
    ? (callback) => {
        setImmediate(callback)
      }
    : (callback) => {
        setTimeout(callback, 0)
      }

function positiveInt(name: string, value: unknown, allowZero: boolean): void {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    (!allowZero && value === 0)
  ) {
    throw new TypeError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}`,
    )
  }
}

function validate(options: StreamServerOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('createStreamServer: options must be an object')
  }
  const optional: [string, unknown, boolean][] = [
    ['heartbeatMs', options.heartbeatMs, true],
    ['retryMs', options.retryMs, true],
    ['maxQueueBytes', options.maxQueueBytes, false],
    ['maxConnections', options.maxConnections, false],
    ['maxConnectionsPerIp', options.maxConnectionsPerIp, false],
    ['retryAfterSeconds', options.retryAfterSeconds, true],
    ['maxSessionMs', options.maxSessionMs, false],
    ['headTimeoutMs', options.headTimeoutMs, false],
    ['maxPendingConnections', options.maxPendingConnections, false],
    ['flushSliceSessions', options.flushSliceSessions, false],
    ['flushSliceBytes', options.flushSliceBytes, false],
  ]
  for (const [name, value, allowZero] of optional) {
    if (value !== undefined) positiveInt(name, value, allowZero)
  }
  for (const hook of ['onOpen', 'onClose'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') {
      throw new TypeError(`${hook} must be a function`)
    }
  }
  const compression = options.compression
  if (compression !== undefined && compression !== false) {
    if (typeof compression !== 'object' || compression === null) {
      throw new TypeError("compression must be false or { encodings?: ('br' | 'gzip')[] }")
    }
    for (const encoding of compression.encodings ?? []) {
      if (encoding !== 'br' && encoding !== 'gzip') {
        throw new TypeError(`compression.encodings: unsupported encoding '${String(encoding)}'`)
      }
    }
  }
}

/**
 * Builds the core: registry, limits, flushing, heartbeats, drain. The public factory in
 * `create-stream-server.ts` adds the transport handlers.
 */
export function createServerCore(options: StreamServerOptions = {}): {
  core: ServerCore
  sessions: Set<StreamSession>
  isDraining(): boolean
  writeLagMs(): number
  writeDelayMs(extraFrames?: number): number
  flushed(): Promise<void>
  drain(options?: DrainOptions): Promise<void>
  close(): Promise<void>
} {
  validate(options)
  const heartbeatMs = options.heartbeatMs ?? 15_000
  const maxQueueBytes = options.maxQueueBytes ?? 1024 * 1024
  const maxConnections = options.maxConnections ?? Number.POSITIVE_INFINITY
  const maxPerIp = options.maxConnectionsPerIp ?? Number.POSITIVE_INFINITY
  const maxSessionMs = options.maxSessionMs ?? 0
  const headTimeoutMs = options.headTimeoutMs ?? 10_000
  const maxPending = options.maxPendingConnections ?? defaultMaxPending()
  const logger = options.logger ?? silent
  const metrics: ServerMetrics | undefined = options.metrics
  const cors = options.cors === undefined ? undefined : createCorsPolicy(options.cors)
  const compression =
    options.compression === undefined || options.compression === false
      ? false
      : { encodings: options.compression.encodings ?? (['br', 'gzip'] as const) }
  // Fail at construction, not on the first compressed request.
  if (compression !== false) assertCompressionAvailable()
  const initialFrame = options.retryMs === undefined ? undefined : createRetryFrame(options.retryMs)
  const heartbeatFrame = createCommentFrame('heartbeat')
  const { onOpen, onClose } = options

  const sessions = new Set<StreamSession>()
  const perIp = new Map<string, number>()
  // Reserved slots include admitted requests whose transport is still being opened.
  let reserved = 0
  let draining = false

  // The flush: sessions that queued something, each written once per pass, in slices of
  // `slice` sessions per event-loop turn so that I/O (publishes, accepts) runs in between.
  // `passing` is the pass in progress (from `at`), `dirty` the sessions scheduled since it
  // began; each list's first session was scheduled at `passingSince` / `dirtySince`
  // (performance.now()), which bounds the age of every frame waiting in it.
  const slice = options.flushSliceSessions ?? 256
  // A slice also ends once it wrote this many bytes: past the node's capacity every session
  // holds many frames, and 256 writes of tens of KiB make a turn of tens of ms (the turns, not
  // the writes, bound how fast new connections are accepted).
  const sliceBytes = options.flushSliceBytes ?? 256 * 1024
  let passing: StreamSession[] = []
  let at = 0
  let passingSince = 0
  let dirty: StreamSession[] = []
  let dirtySince = 0
  let flushScheduled = false
  // The write rate: frames handed to transports per ms while the flush is busy (its slices and
  // every turn between them: what else the node does competes with the writes), measured over
  // windows of RATE_WINDOW_MS (or a busy spell, if shorter) and averaged with the previous
  // estimate; 0 until the first window. `busySince` (performance.now(); 0: idle) and
  // `busyFrames` are the window in progress.
  let framesPerMs = 0
  let busySince = 0
  let busyFrames = 0
  // Passes completed, and who waits for a given count (`flushed()`).
  let passes = 0
  let passWaiters: { pass: number; resolve: () => void }[] = []

  function flushed(): Promise<void> {
    // Frames queued so far are in the pass in progress or in the next one.
    const pass = passes + (at < passing.length ? 1 : 0) + (dirty.length > 0 ? 1 : 0)
    if (pass === passes) return Promise.resolve()
    return new Promise((resolve) => passWaiters.push({ pass, resolve }))
  }

  function writeLagMs(): number {
    if (at < passing.length) return Math.max(0, performance.now() - passingSince)
    if (dirty.length > 0) return Math.max(0, performance.now() - dirtySince)
    return 0
  }

  function writeDelayMs(extraFrames = 0): number {
    const frames = host.framesQueued + extraFrames
    if (frames <= 0 || framesPerMs === 0) return 0
    // The flush goes round the sessions, each written once per pass; a frame queued now for a
    // session just written waits a whole round. A round writes what is queued now plus what
    // arrives meanwhile for the sessions it has not reached yet: while the node is past its
    // capacity (arrivals as fast as the writes), about as much again. So: twice what is
    // queued, at the rate the node has been writing.
    return (2 * frames) / framesPerMs
  }

  function runFlush(): void {
    flushScheduled = false
    const started = performance.now()
    if (busySince === 0) busySince = started
    const now = Date.now()
    let writes = 0
    let frames = 0
    let bytes = 0
    let budget = slice
    while (budget > 0 && bytes < sliceBytes) {
      if (passing.length === 0) {
        // The sessions scheduled since the last pass make the next one.
        if (dirty.length === 0) break
        const next = dirty
        dirty = passing
        passing = next
        passingSince = dirtySince
      }
      const end = Math.min(passing.length, at + budget)
      const from = at
      for (; at < end && bytes < sliceBytes; at++) {
        const session = passing[at] as StreamSession
        const sessionFrames = session.frames
        const written = session.flush(now)
        if (written > 0) {
          writes++
          frames += sessionFrames
          bytes += written
        }
      }
      budget -= at - from
      if (at >= passing.length) {
        passing.length = 0
        at = 0
        passes++
      }
    }
    if (passing.length > 0 || dirty.length > 0) {
      flushScheduled = true
      schedule(runFlush)
    }
    busyFrames += frames
    const ended = performance.now()
    if (!flushScheduled || ended - busySince >= RATE_WINDOW_MS) {
      const ms = ended - busySince
      if (busyFrames > 0 && ms > 0) {
        const rate = busyFrames / ms
        framesPerMs = framesPerMs === 0 ? rate : (framesPerMs + rate) / 2
      }
      busySince = flushScheduled ? ended : 0
      busyFrames = 0
    }
    if (passWaiters.length > 0 && passWaiters[0] !== undefined && passWaiters[0].pass <= passes) {
      const waiters = passWaiters
      passWaiters = []
      for (const waiter of waiters) {
        if (waiter.pass <= passes) waiter.resolve()
        else passWaiters.push(waiter)
      }
    }
    if (metrics !== undefined && writes > 0) {
      metrics.increment('writes_total', writes)
      metrics.increment('frames_total', frames)
      metrics.increment('bytes_total', bytes)
      metrics.observe('flush_sessions', writes)
      metrics.observe('flush_duration_seconds', (ended - started) / 1000)
    }
  }

  // Idle heartbeats and expiry: one sweep over all sessions, not a timer per session.
  let sweepTimer: ReturnType<typeof setInterval> | undefined
  const sweepEvery = heartbeatMs > 0 ? Math.max(1, Math.floor(heartbeatMs / 4)) : 0
  const expiryEvery = maxSessionMs > 0 ? Math.max(1, Math.floor(maxSessionMs / 4)) : 0
  const sweepMs =
    sweepEvery === 0
      ? expiryEvery
      : expiryEvery === 0
        ? sweepEvery
        : Math.min(sweepEvery, expiryEvery)

  function sweep(): void {
    const now = Date.now()
    let beats = 0
    for (const session of sessions) {
      if (maxSessionMs > 0 && now - session.openedAt >= maxSessionMs) {
        session.close('expired')
        continue
      }
      if (heartbeatMs > 0 && !session.dirty && now - session.lastWriteAt >= heartbeatMs) {
        if (session.sendFrame(heartbeatFrame)) beats++
      }
    }
    if (beats > 0) metrics?.increment('heartbeats_total', beats)
  }

  function startSweep(): void {
    if (sweepTimer !== undefined || sweepMs === 0) return
    sweepTimer = setInterval(sweep, sweepMs)
    // Never keep a process alive just to send heartbeats.
    if (typeof sweepTimer === 'object' && sweepTimer !== null && 'unref' in sweepTimer) {
      sweepTimer.unref()
    }
  }

  function stopSweep(): void {
    if (sweepTimer !== undefined) clearInterval(sweepTimer)
    sweepTimer = undefined
  }

  function unreserve(ip: string): void {
    reserved--
    if (ip === '' || maxPerIp === Number.POSITIVE_INFINITY) return
    const count = (perIp.get(ip) ?? 1) - 1
    if (count <= 0) perIp.delete(ip)
    else perIp.set(ip, count)
  }

  const drainWaiters: (() => void)[] = []

  // Ended transports still flushing their last bytes; drain() waits for them (bounded).
  const ending = new Set<Sink>()
  const endingWaiters: (() => void)[] = []

  const host: SessionHost = {
    maxQueueBytes,
    framesQueued: 0,
    ending(sink) {
      ending.add(sink)
      sink.end(() => {
        ending.delete(sink)
        if (ending.size === 0) for (const wake of endingWaiters.splice(0)) wake()
      })
    },
    schedule(session) {
      if (dirty.length === 0) dirtySince = performance.now()
      dirty.push(session)
      if (!flushScheduled) {
        flushScheduled = true
        schedule(runFlush)
      }
    },
    released(session, reason, error, bufferedBytes) {
      if (!sessions.delete(session)) return
      unreserve(session.info.ip)
      const durationMs = Date.now() - session.openedAt
      if (reason === 'slow-consumer') {
        logger.warn(
          {
            code: 'HERALD_SLOW_CONSUMER',
            sessionId: session.id,
            ip: session.info.ip,
            bufferedBytes,
            maxQueueBytes,
          },
          'slow consumer closed',
        )
        metrics?.increment('slow_consumers_total', 1)
      } else if (reason === 'error') {
        logger.warn({ sessionId: session.id, ip: session.info.ip, err: error }, 'session failed')
      }
      // One info line per stream open and close: how long, how many bytes, why it ended.
      logger.info(
        {
          sessionId: session.id,
          ip: session.info.ip,
          path: requestTarget(session.info).path,
          reason,
          durationMs: Math.round(durationMs),
          bytes: session.bytesSent,
        },
        'stream closed',
      )
      if (metrics !== undefined) {
        metrics.increment('sessions_closed_total', 1, { reason })
        metrics.observe('session_duration_seconds', durationMs / 1000, { reason })
      }
      if (onClose !== undefined) {
        try {
          onClose(session, reason)
        } catch (hookError) {
          logger.error({ sessionId: session.id, err: hookError }, 'onClose hook threw')
        }
      }
      if (sessions.size === 0) {
        stopSweep()
        for (const wake of drainWaiters.splice(0)) wake()
      }
    },
  }

  const HostedSession = sessionClass(host)

  const policy: AdmissionPolicy = {
    cors,
    encodings: compression === false ? undefined : compression.encodings,
    retryAfterSeconds: options.retryAfterSeconds ?? 5,
    get draining() {
      return draining
    },
    reserve(ip): HeraldErrorCode | undefined {
      if (reserved >= maxConnections) return 'HERALD_TOO_MANY_CONNECTIONS'
      if (ip !== '' && maxPerIp !== Number.POSITIVE_INFINITY) {
        const count = perIp.get(ip) ?? 0
        if (count >= maxPerIp) return 'HERALD_TOO_MANY_CONNECTIONS_PER_IP'
        perIp.set(ip, count + 1)
      }
      reserved++
      return undefined
    },
  }

  const guard = createConnectionGuard({
    streams: () => reserved,
    streamsFrom: (ip) => perIp.get(ip) ?? 0,
    maxConnections,
    maxPerIp: options.proxied === true ? Number.POSITIVE_INFINITY : maxPerIp,
    maxPending,
    headTimeoutMs,
    retryAfterSeconds: policy.retryAfterSeconds,
    refusedConnection(code, ip, suppressed) {
      if (code === 'timeout') metrics?.increment('connections_timed_out_total', 1)
      else metrics?.increment('connections_refused_total', 1, { code })
      // -1: within the log's once-a-second budget, counted only.
      if (suppressed < 0) return
      if (code === 'timeout') {
        logger.info(
          { ip, headTimeoutMs, alsoSuppressed: suppressed },
          'connection sent no request head in time: closed',
        )
      } else {
        logger.warn(
          { code, ip, pending: guard.pending, streams: reserved, alsoSuppressed: suppressed },
          'connection refused before its request: limit reached',
        )
      }
    },
  })

  const core: ServerCore = {
    guard,
    decide(request, extraHeaders) {
      return admit(request, policy, extraHeaders)
    },
    initialFrame,
    logger,
    compression,
    unreserve,
    refused(code, ip) {
      logger.debug({ code, ip }, 'request refused')
      metrics?.increment('requests_rejected_total', 1, { code })
    },
    open(info, lastEventId, sink) {
      const session = new HostedSession(info, lastEventId, Date.now(), sink)
      sessions.add(session)
      sink.attach(session)
      if (session.closeReason !== undefined) return undefined
      startSweep()
      metrics?.increment('sessions_opened_total', 1)
      logger.info(
        {
          sessionId: session.id,
          ip: info.ip,
          ...requestTarget(info),
          lastEventId,
          httpVersion: info.httpVersion,
        },
        'stream opened',
      )
      if (onOpen !== undefined) {
        try {
          onOpen(session)
        } catch (error) {
          logger.error({ sessionId: session.id, err: error }, 'onOpen hook threw')
          session.transportClosed('error', error)
          return undefined
        }
      }
      return session.closeReason === undefined ? session : undefined
    },
  }

  function allClosed(): Promise<void> {
    if (sessions.size === 0) return Promise.resolve()
    return new Promise((resolve) => drainWaiters.push(resolve))
  }

  async function drain(drainOptions: DrainOptions = {}): Promise<void> {
    const deadlineMs = drainOptions.deadlineMs ?? 10_000
    positiveInt('deadlineMs', deadlineMs, true)
    if (drainOptions.waves !== undefined) positiveInt('waves', drainOptions.waves, false)
    const jitter = drainOptions.retryJitterMs ?? deadlineMs
    positiveInt('retryJitterMs', jitter, true)
    draining = true
    const list = [...sessions]
    if (list.length === 0) return
    const waves = Math.min(drainOptions.waves ?? 10, list.length)
    const base = options.retryMs ?? 1000
    // Waves fill the first half of the budget; the second half lets sockets finish writing.
    const spacing = waves > 1 ? deadlineMs / 2 / (waves - 1) : 0
    const perWave = Math.ceil(list.length / waves)
    logger.info({ sessions: list.length, waves, deadlineMs }, 'draining')
    const timers: ReturnType<typeof setTimeout>[] = []
    const closeWave = (wave: number): void => {
      const end = Math.min(list.length, (wave + 1) * perWave)
      for (let i = wave * perWave; i < end; i++) {
        const session = list[i] as StreamSession
        if (session.closeReason !== undefined) continue
        session.sendFrame(createRetryFrame(base + Math.floor(Math.random() * (jitter + 1))))
        session.close('drain')
      }
    }
    closeWave(0)
    for (let wave = 1; wave < waves; wave++) {
      timers.push(setTimeout(closeWave, spacing * wave, wave))
    }
    let deadline: ReturnType<typeof setTimeout> | undefined
    const deadlinePassed = new Promise<void>((resolve) => {
      deadline = setTimeout(resolve, deadlineMs)
    })
    await Promise.race([allClosed(), deadlinePassed])
    for (const timer of timers) clearTimeout(timer)
    // Past the deadline: whatever is left goes now.
    for (const session of [...sessions]) session.close('drain')
    // Then give the closed streams the rest of the budget to hand their last bytes (the retry
    // hint) to the kernel; a process exiting earlier would drop them.
    if (ending.size > 0) {
      await Promise.race([
        new Promise<void>((resolve) => endingWaiters.push(resolve)),
        deadlinePassed,
      ])
    }
    clearTimeout(deadline)
    for (const sink of [...ending]) sink.destroy()
    ending.clear()
    logger.info({}, 'drained')
  }

  async function close(): Promise<void> {
    draining = true
    guard.close()
    for (const session of [...sessions]) session.close('server')
    stopSweep()
  }

  return {
    core,
    sessions,
    isDraining: () => draining,
    writeLagMs,
    writeDelayMs,
    flushed,
    drain,
    close,
  }
}
