/**
 * A small event-stream client for tests: one fetch, parsed with @herald/protocol, events
 * collected in order, with waits that resolve on the event (never on a timer) and fail
 * with what was received at a deadline.
 */
import type { ServerSentEvent } from '@herald/protocol'
import { createParser } from '@herald/protocol'

/** An open test stream. */
export interface EventStreamReader {
  /** HTTP status. */
  readonly status: number
  /** Response headers. */
  readonly headers: Headers
  /** Events received so far, in order. */
  readonly events: ServerSentEvent[]
  /** Response body text when the answer was not a stream (errors). */
  readonly text: string
  /** Resolves when the stream ended (server closed it). */
  readonly ended: Promise<void>
  /** Resolves once `predicate(events)` holds; rejects after `timeoutMs` (default 10 s). */
  until(
    predicate: (events: ServerSentEvent[]) => boolean,
    timeoutMs?: number,
  ): Promise<ServerSentEvent[]>
  /** Resolves once at least `n` events arrived. */
  count(n: number, timeoutMs?: number): Promise<ServerSentEvent[]>
  /** Closes the stream. */
  close(): void
}

/** Opens `url` as an event stream. `headers` may set `Last-Event-ID`, `Authorization`, ... */
export async function openEventStream(
  url: string,
  headers: Record<string, string> = {},
): Promise<EventStreamReader> {
  const controller = new AbortController()
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  })
  const events: ServerSentEvent[] = []
  const waiters = new Set<() => void>()
  let done = false
  let text = ''
  const notify = (): void => {
    for (const wake of waiters) wake()
  }
  const isStream = (response.headers.get('content-type') ?? '').startsWith('text/event-stream')
  let ended: Promise<void>
  if (!isStream || response.body === null) {
    text = await response.text()
    done = true
    ended = Promise.resolve()
  } else {
    const parser = createParser({
      onEvent(event) {
        events.push(event)
        notify()
      },
    })
    ended = (async () => {
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
          parser.feed(chunk)
      } catch {
        // aborted or reset: the stream is over either way
      } finally {
        done = true
        notify()
      }
    })()
  }
  const until = (predicate: (e: ServerSentEvent[]) => boolean, timeoutMs = 10_000) =>
    new Promise<ServerSentEvent[]>((resolve, reject) => {
      const check = (): void => {
        if (predicate(events)) {
          cleanup()
          resolve(events)
        } else if (done) {
          cleanup()
          reject(new Error(`stream ended before the condition held; got ${JSON.stringify(events)}`))
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(
          new Error(`timed out; got ${events.length} events: ${JSON.stringify(events.slice(-5))}`),
        )
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  return {
    status: response.status,
    headers: response.headers,
    events,
    get text() {
      return text
    },
    ended,
    until,
    count: (n, timeoutMs) => until((e) => e.length >= n, timeoutMs),
    close() {
      controller.abort()
    },
  }
}
