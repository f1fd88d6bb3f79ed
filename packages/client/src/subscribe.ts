/**
 * `subscribe`: an event stream as an async iterator that reconnects on its own, yields
 * each event ID once, and decodes and validates data when asked.
 */
import { HeraldError, type HeraldErrorCode, type ServerSentEvent } from '@herald/protocol'
import { type Connection, connect } from './connect.js'
import { type ClientOptions, check, resolveOptions } from './options.js'
import type { StandardSchemaV1 } from './standard-schema.js'

/** Options of {@link subscribe}. */
export interface SubscribeOptions extends ClientOptions {
  /** Ends the subscription: the iterator completes, the request is aborted. */
  signal?: AbortSignal
  /** Parse each event's data as JSON. Default `false`, or `true` when `schema` is set. */
  json?: boolean
  /**
   * Validates (and may transform) each event's data, after JSON parsing: any Standard
   * Schema v1 validator (zod, valibot, arktype, ...). An event it rejects is skipped and
   * reported to `onError` with `HERALD_CLIENT_SCHEMA`.
   */
  schema?: StandardSchemaV1
  /**
   * How many recent event IDs to remember to drop duplicates (a server replaying from
   * an older ID after a reconnect). `0` turns deduplication off. Default 1024.
   */
  dedupeWindow?: number
  /**
   * Called with every non-fatal problem: a lost connection about to be retried
   * (`HERALD_CLIENT_NETWORK`, `HERALD_CLIENT_STALLED`, a retried `HERALD_CLIENT_HTTP_STATUS`,
   * ...), each skipped event (`HERALD_CLIENT_INVALID_JSON`, `HERALD_CLIENT_SCHEMA`), and the
   * hub's `herald.reset` event (`HERALD_CLIENT_RESET`: events were lost, reload your state).
   * A fatal error is not reported here: the iterator throws it. Errors this callback
   * throws are ignored.
   */
  onError?: (error: HeraldError) => void
  /** Called on every successful (re)connection, with the response. */
  onOpen?: (response: Response) => void
}

/** An event yielded by {@link subscribe}. */
export interface SubscriptionEvent<T = string> {
  /** The event type: the `event:` field, or `"message"`. */
  type: string
  /** The data: a string, or the parsed and validated value with `json` or `schema`. */
  data: T
  /** The last event ID string when the event arrived (persists across events). */
  lastEventId: string
}

/** The async iterator {@link subscribe} returns. */
export interface Subscription<T = string> extends AsyncIterable<SubscriptionEvent<T>> {
  /** The next event; rejects with the fatal `HeraldError` that ended the stream, once. */
  next(): Promise<IteratorResult<SubscriptionEvent<T>, undefined>>
  /** Ends the subscription (what `break` in a `for await` loop calls). */
  return(): Promise<IteratorResult<SubscriptionEvent<T>, undefined>>
  /** Returns itself. */
  [Symbol.asyncIterator](): Subscription<T>
  /** The last event ID string: persist it to resume later with `initialLastEventId`. */
  readonly lastEventId: string
}

// Events buffered for a slow consumer before the client stops reading the response (and
// TCP flow control slows the server down); reading resumes once half are consumed.
const HIGH_WATER = 64

interface Waiter {
  resolve(result: IteratorResult<SubscriptionEvent<unknown>, undefined>): void
  reject(error: unknown): void
}

/**
 * Subscribes to an event stream. The returned async iterator connects at once, reconnects
 * on its own (network errors, stalls, 5xx, 408 and 429 with `Retry-After`) with
 * `Last-Event-ID`, yields each event ID once, and completes when `options.signal` aborts,
 * the loop breaks or the server answers `204`. A fatal failure (`401`, `403`, `404`, a
 * wrong Content-Type, `maxAttempts` exhausted) makes it throw a `HeraldError`. An event with bad data is
 * skipped and reported to `onError`: it never ends the stream.
 *
 * @example
 * ```ts
 * const Price = z.object({ symbol: z.string(), price: z.number() })
 * for await (const { data } of subscribe('/events?topic=prices', { schema: Price, signal })) {
 *   render(data.symbol, data.price)
 * }
 * ```
 */
export function subscribe<S extends StandardSchemaV1>(
  url: string | URL,
  options: SubscribeOptions & { schema: S },
): Subscription<StandardSchemaV1.InferOutput<S>>
export function subscribe<T = unknown>(
  url: string | URL,
  options: SubscribeOptions & { json: true },
): Subscription<T>
export function subscribe(url: string | URL, options?: SubscribeOptions): Subscription<string>
export function subscribe(
  url: string | URL,
  options: SubscribeOptions = {},
): Subscription<unknown> {
  const { signal, schema, onError, onOpen } = options
  const json = options.json ?? schema !== undefined
  const windowSize = options.dedupeWindow ?? 1024
  check(schema === undefined || typeof schema?.['~standard']?.validate === 'function', 'schema')
  check(windowSize >= 0, 'dedupeWindow')
  const resolved = resolveOptions(options, true)
  const href = new URL(url, globalThis.location?.href).href

  // The last `windowSize` IDs: a Set to look up, a ring to evict the oldest in O(1)
  // (taking a Set's first entry after many deletions walks over their holes).
  const seen = new Set<string>()
  const ring: string[] = []
  let ringIndex = 0
  const queue: SubscriptionEvent<unknown>[] = []
  const waiters: Waiter[] = []
  let finished = false
  let failure: HeraldError | undefined
  let resume: (() => void) | undefined

  const report = (error: HeraldError) => {
    try {
      onError?.(error)
    } catch {
      // A bug in the consumer's callback must not end the stream.
    }
  }

  const push = (event: SubscriptionEvent<unknown>): undefined | Promise<void> => {
    // An async validation may settle after the subscription ended: drop its event.
    if (finished) return undefined
    const waiter = waiters.shift()
    if (waiter) {
      waiter.resolve({ value: event, done: false })
      return undefined
    }
    queue.push(event)
    return queue.length >= HIGH_WATER
      ? new Promise<void>((resolve) => {
          resume = resolve
        })
      : undefined
  }

  // A bad event is skipped and reported; it never ends the stream.
  const skip = (code: HeraldErrorCode, event: ServerSentEvent, cause: unknown) =>
    report(new HeraldError(code, `Skipped event ${event.lastEventId || event.type}`, { cause }))

  const validate = async (
    event: ServerSentEvent,
    data: unknown,
    validator: StandardSchemaV1,
  ): Promise<void> => {
    let issues: unknown
    try {
      const result = await validator['~standard'].validate(data)
      if (!result.issues)
        return push({ type: event.type, data: result.value, lastEventId: event.lastEventId })
      issues = result.issues
    } catch (thrown) {
      issues = thrown
    }
    skip('HERALD_CLIENT_SCHEMA', event, issues)
  }

  const finish = (error?: HeraldError) => {
    if (finished) return
    finished = true
    failure = error
    connection?.close()
    signal?.removeEventListener('abort', abort)
    resume?.()
    for (const waiter of waiters.splice(0)) {
      if (failure) waiter.reject(failure)
      else waiter.resolve({ value: undefined, done: true })
      failure = undefined
    }
  }

  const abort = () => {
    queue.length = 0
    finish()
  }

  let connection: Connection | undefined
  if (signal?.aborted) finish()
  else {
    signal?.addEventListener('abort', abort)
    connection = connect(href, resolved, {
      open(response) {
        try {
          onOpen?.(response)
        } catch {
          // As in report().
        }
      },
      event(event, hasId) {
        if (hasId && windowSize > 0) {
          const id = event.lastEventId
          if (seen.has(id)) return undefined
          seen.add(id)
          const oldest = ring[ringIndex]
          if (oldest !== undefined) seen.delete(oldest)
          ring[ringIndex] = id
          ringIndex = (ringIndex + 1) % windowSize
        }
        let data: unknown = event.data
        if (event.type === 'herald.reset') {
          // The hub could not resume: events were lost. Never meets the schema.
          try {
            data = JSON.parse(event.data)
          } catch {}
          report(new HeraldError('HERALD_CLIENT_RESET', 'Events were lost', { cause: data }))
          return undefined
        }
        if (json) {
          try {
            data = JSON.parse(event.data)
          } catch (cause) {
            skip('HERALD_CLIENT_INVALID_JSON', event, cause)
            return undefined
          }
        }
        if (schema) return validate(event, data, schema)
        return push(json ? { type: event.type, data, lastEventId: event.lastEventId } : event)
      },
      retry(error) {
        if (error.code !== 'HERALD_CLIENT_ENDED') report(error)
      },
      pause() {},
      end(error) {
        // The end of a request that is not re-sent, and 204 ("no more events"), complete
        // the iteration; every other reason to give up is thrown.
        finish(error.code === 'HERALD_CLIENT_ENDED' || error.status === 204 ? undefined : error)
      },
    })
  }

  const subscription: Subscription<unknown> = {
    next() {
      const event = queue.shift()
      if (event) {
        if (resume && queue.length <= HIGH_WATER / 2) {
          resume()
          resume = undefined
        }
        return Promise.resolve({ value: event, done: false })
      }
      if (finished) {
        const error = failure
        failure = undefined
        return error ? Promise.reject(error) : Promise.resolve({ value: undefined, done: true })
      }
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }))
    },
    return() {
      queue.length = 0
      failure = undefined
      finish()
      return Promise.resolve({ value: undefined, done: true })
    },
    [Symbol.asyncIterator]() {
      return subscription
    },
    get lastEventId() {
      return connection?.lastEventId ?? resolved.lastEventId
    },
  }
  return subscription
}
