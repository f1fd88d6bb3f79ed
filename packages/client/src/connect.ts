/**
 * The connection loop `EventSource` and `subscribe` share: fetch, check the response,
 * parse the body, watch for stalls, classify failures, back off and reconnect with
 * `Last-Event-ID`.
 */
import { createParser, HeraldError, type ServerSentEvent } from '@herald/protocol'
import { backoffDelay, MAX_TIMER_MS, parseRetryAfter } from './backoff.js'
import { watchLifecycle } from './lifecycle.js'
import type { ResolvedOptions } from './options.js'

/**
 * Each connection's parser starts from this ID, which no `id:` field can set (the parser
 * ignores an ID containing NUL). Until an event carries an ID of its own, its reported
 * ID is the one carried over from the previous connections; and an event that repeats a
 * previous connection's ID (a server replaying inclusively) is still seen as carrying it.
 */
const NO_ID = '\0'

/** Header values are byte strings: the ID goes out as UTF-8, as the WHATWG spec says. */
function toByteString(text: string): string {
  let out = ''
  for (const byte of new TextEncoder().encode(text)) out += String.fromCharCode(byte)
  return out
}

/** What the connection loop tells its owner. */
export interface ConnectionHooks {
  /** A `200 text/event-stream` response arrived. */
  open(response: Response): void
  /**
   * An event arrived. `hasId` is `true` when it carries a non-empty ID of its own (not
   * one inherited from an earlier event). Returning a promise holds the stream until it
   * settles (backpressure).
   */
  event(event: ServerSentEvent, hasId: boolean): undefined | Promise<void>
  /** The connection was lost or failed; the next attempt starts in `delayMs`. */
  retry(error: HeraldError, delayMs: number): void
  /** The connection was closed to pause (hidden page); it resumes on its own. */
  pause(): void
  /** The loop gave up (a fatal error, or a non-idempotent request that ended). */
  end(error: HeraldError): void
}

/** A running connection loop. */
export interface Connection {
  /** Stops for good: aborts the request and cancels any pending retry. No hook runs after. */
  close(): void
  /** The last event ID string, sent as `Last-Event-ID` on the next attempt. */
  readonly lastEventId: string
}

function isRetriableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429
}

/** Starts the connection loop for `url`. The first attempt begins immediately. */
export function connect(url: string, o: ResolvedOptions, hooks: ConnectionHooks): Connection {
  let closed = false
  let lastEventId = o.lastEventId
  let attempt: AbortController | undefined
  // Why the current attempt was aborted by the client itself.
  let reason: 'pause' | 'stall' | undefined
  // Ends the current wait (backoff or pause) early.
  let wake: (() => void) | undefined

  // A non-idempotent request is never re-sent on its own, so it is never paused either.
  const lifecycle = o.once
    ? undefined
    : watchLifecycle(o, () => {
        if (lifecycle?.paused) {
          if (attempt && !reason) {
            reason = 'pause'
            attempt.abort()
          }
        } else {
          // Shown again or back online: do not sit out the rest of a backoff.
          wake?.()
        }
      })

  const wait = (ms?: number) =>
    new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        wake = undefined
        resolve()
      }
      wake = done
    })

  function close(): void {
    if (closed) return
    closed = true
    attempt?.abort()
    wake?.()
    lifecycle?.dispose()
  }

  async function run(): Promise<void> {
    let failures = 0
    // The server's `retry:` field: the floor of every delay.
    let floor = 0
    for (;;) {
      while (lifecycle?.paused && !closed) await wait()
      if (closed) return
      const controller = new AbortController()
      attempt = controller
      reason = undefined
      let error: HeraldError
      let fatal = false
      let progressed = false
      let retryAfter = 0
      // Stall watchdog: one timer per period rather than one per chunk. It does not count
      // time spent waiting for the consumer (`busy`), when nothing is being read.
      let busy = false
      let lastByte = Date.now()
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = o.inactivityTimeoutMs
      const watchdog = () => {
        const idle = busy ? 0 : Date.now() - lastByte
        if (idle >= timeout) {
          reason ??= 'stall'
          controller.abort()
        } else {
          timer = setTimeout(watchdog, timeout - idle)
        }
      }
      if (timeout > 0) timer = setTimeout(watchdog, timeout)
      try {
        let init: HeadersInit | undefined
        try {
          init = typeof o.headers === 'function' ? await o.headers() : o.headers
        } catch (cause) {
          throw new HeraldError('HERALD_CLIENT_HEADERS', 'headers() failed', { cause })
        }
        const headers = new Headers(init)
        headers.set('accept', 'text/event-stream')
        let target = url
        if (lastEventId !== '') {
          if (o.lastEventIdParam) {
            const withId = new URL(url)
            withId.searchParams.set(o.lastEventIdParam, lastEventId)
            target = withId.href
          } else {
            headers.set('last-event-id', toByteString(lastEventId))
          }
        }
        // Called detached: a native fetch called as a method of the options object throws.
        const fetchImpl = o.fetch ?? fetch
        const response = await fetchImpl(target, {
          method: o.method,
          headers,
          body: o.body ?? null,
          credentials: o.credentials,
          cache: 'no-store',
          signal: controller.signal,
        })
        // A custom fetch may not honour the signal.
        if (closed) return
        lastByte = Date.now()
        const { status } = response
        if (status !== 200) {
          retryAfter = parseRetryAfter(response.headers.get('retry-after'), lastByte)
          fatal = !(o.retryServerErrors && isRetriableStatus(status))
          throw new HeraldError('HERALD_CLIENT_HTTP_STATUS', `HTTP ${status} from ${url}`, {
            status,
          })
        }
        const type = response.headers.get('content-type') ?? ''
        if (type.split(';')[0]?.trim().toLowerCase() !== 'text/event-stream') {
          fatal = true
          throw new HeraldError('HERALD_CLIENT_CONTENT_TYPE', `Not text/event-stream: ${type}`, {
            status,
          })
        }
        hooks.open(response)
        // Events of the current chunk, and whether each carries an ID of its own (an event
        // inheriting its ID from an earlier block must not be deduplicated by it). The
        // parser's event objects are fresh per event: reused as they are.
        const events: ServerSentEvent[] = []
        const hasIds: boolean[] = []
        const parser = createParser({
          lastEventId: NO_ID,
          onEvent(event, hasOwnId) {
            const id = event.lastEventId
            hasIds.push(hasOwnId && id !== '')
            if (id === NO_ID) event.lastEventId = lastEventId
            events.push(event)
          },
          onRetry(ms) {
            // Timers hold at most 2^31 - 1 ms: a larger hint would fire at once, turning a
            // request to wait into a reconnect loop.
            floor = Math.min(ms, MAX_TIMER_MS)
          },
        })
        const reader = response.body?.getReader()
        for (;;) {
          const chunk = await reader?.read()
          if (!chunk || chunk.done) break
          lastByte = Date.now()
          if (chunk.value.length > 0) progressed = true
          parser.feed(chunk.value)
          for (let i = 0; i < events.length; i++) {
            if (closed) return
            const event = events[i] as ServerSentEvent
            // Kept in step with dispatch: a listener reading it sees its own event's ID.
            lastEventId = event.lastEventId
            const pending = hooks.event(event, hasIds[i] as boolean)
            if (pending) {
              busy = true
              await pending
              busy = false
              lastByte = Date.now()
            }
          }
          events.length = 0
          hasIds.length = 0
          // An ID-only block sets the last event ID without dispatching anything.
          if (parser.lastEventId !== NO_ID) lastEventId = parser.lastEventId
        }
        error = new HeraldError('HERALD_CLIENT_ENDED', `End of stream: ${url}`)
      } catch (thrown) {
        if (closed) return
        error =
          thrown instanceof HeraldError
            ? thrown
            : reason === 'stall'
              ? new HeraldError('HERALD_CLIENT_STALLED', `No data for ${timeout} ms: ${url}`)
              : new HeraldError('HERALD_CLIENT_NETWORK', `Network error: ${url}`, {
                  cause: thrown,
                })
      } finally {
        clearTimeout(timer)
        attempt = undefined
        // Releases the socket whatever happened (an error status leaves a body unread).
        controller.abort()
      }
      if (closed) return
      if (reason === 'pause') {
        hooks.pause()
        continue
      }
      const exponent = progressed ? 0 : failures
      failures = progressed ? 0 : failures + 1
      if (!fatal && failures >= o.maxAttempts) {
        error = new HeraldError(
          'HERALD_CLIENT_MAX_ATTEMPTS',
          `${failures} failed attempts: ${url}`,
          { cause: error },
        )
        fatal = true
      }
      if (fatal || o.once) {
        close()
        hooks.end(error)
        return
      }
      const delay = backoffDelay(
        exponent,
        o.initialMs,
        o.maxMs,
        Math.max(floor, retryAfter),
        Math.random(),
      )
      hooks.retry(error, delay)
      if (closed) return
      await wait(delay)
    }
  }

  // Not synchronously: listeners added right after the constructor must see every event.
  void Promise.resolve().then(run)
  return {
    close,
    get lastEventId() {
      return lastEventId
    },
  }
}
