/**
 * A drop-in `EventSource`: the WHATWG interface and processing model, over `fetch`, with
 * the options the native one lacks.
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html
 */
import { type Connection, connect } from './connect.js'
import { ConnectionErrorEvent, createMessageEvent } from './events.js'
import { type ClientOptions, resolveOptions } from './options.js'

/** Options of `new EventSource(url, init)`. */
export interface EventSourceInit extends ClientOptions {
  /**
   * Retry 5xx, 408 and 429 responses (honouring `Retry-After`) instead of closing the
   * source. Default `false`: the specification closes the source on any status but 200.
   */
  retryServerErrors?: boolean
}

/** Events an {@link EventSource} dispatches, by type. Named events are `MessageEvent`s too. */
export interface EventSourceEventMap {
  open: Event
  message: MessageEvent<string>
  error: ConnectionErrorEvent
}

type Handler<E> = ((this: EventSource, event: E) => unknown) | null
type Listener<E> = ((this: EventSource, event: E) => unknown) | { handleEvent(event: E): unknown }

/**
 * A Server-Sent Events client with the WHATWG `EventSource` interface (`readyState`,
 * `onopen`/`onmessage`/`onerror`, named events, `close()`, `withCredentials`,
 * `Last-Event-ID`, `retry:`), built on `fetch`, so it runs in browsers, workers and Node.
 *
 * As the specification requires, a response that is not `200 text/event-stream` (204
 * included) closes the source with an `error` event; a network error or the normal end of
 * the response reconnects. On top of that it takes headers, a custom fetch, backoff with
 * jitter and stall detection: see {@link EventSourceInit}. The `error` event is a
 * {@link ConnectionErrorEvent} that says why.
 *
 * @example
 * ```ts
 * const source = new EventSource('/events?topic=news', {
 *   headers: async () => ({ authorization: `Bearer ${await getToken()}` }),
 *   inactivityTimeoutMs: 45_000,
 * })
 * source.addEventListener('headline', (event) => console.log(event.data))
 * ```
 */
export class EventSource extends EventTarget {
  /** The connection has not yet been established, or it was closed and is reconnecting. */
  static readonly CONNECTING = 0
  /** The connection is open and dispatching events. */
  static readonly OPEN = 1
  /** The connection is closed and will not reconnect. */
  static readonly CLOSED = 2

  /** The absolute URL of the event stream. */
  readonly url: string
  /** `true` when cross-origin requests include credentials. */
  readonly withCredentials: boolean
  #state: 0 | 1 | 2 = 0
  #connection: Connection
  #handlers: Record<string, Handler<never>> = {}

  /**
   * Opens `url` (resolved against the page's location where there is one).
   * @throws DOMException `SyntaxError` when the URL is invalid; `TypeError` for bad options
   */
  constructor(url: string | URL, init?: EventSourceInit) {
    super()
    let resolved: URL
    try {
      resolved = new URL(url, globalThis.location?.href)
    } catch {
      throw new DOMException(`Invalid EventSource URL: ${url}`, 'SyntaxError')
    }
    this.url = resolved.href
    this.withCredentials = !!init?.withCredentials
    let origin = resolved.origin
    this.#connection = connect(this.url, resolveOptions(init, !!init?.retryServerErrors), {
      open: (response) => {
        // Events carry the origin of the final URL, after redirects.
        origin = new URL(response.url || this.url).origin
        this.#state = 1
        this.dispatchEvent(new Event('open'))
      },
      event: (event) => {
        this.dispatchEvent(
          createMessageEvent(event.type, {
            data: event.data,
            origin,
            lastEventId: event.lastEventId,
          }),
        )
        return undefined
      },
      retry: (error, delayMs) => {
        this.#state = 0
        this.dispatchEvent(new ConnectionErrorEvent(error, false, delayMs))
      },
      pause: () => {
        this.#state = 0
      },
      end: (error) => {
        this.#state = 2
        this.dispatchEvent(new ConnectionErrorEvent(error, true))
      },
    })
  }

  /** {@link EventSource.CONNECTING} */
  get CONNECTING(): 0 {
    return 0
  }
  /** {@link EventSource.OPEN} */
  get OPEN(): 1 {
    return 1
  }
  /** {@link EventSource.CLOSED} */
  get CLOSED(): 2 {
    return 2
  }

  /** `CONNECTING` (0), `OPEN` (1) or `CLOSED` (2). */
  get readyState(): 0 | 1 | 2 {
    return this.#state
  }

  /** The last event ID string, sent as `Last-Event-ID` when reconnecting. */
  get lastEventId(): string {
    return this.#connection.lastEventId
  }

  /** Handler of `open` events. */
  get onopen(): Handler<Event> {
    return (this.#handlers.open ?? null) as Handler<Event>
  }
  set onopen(handler: Handler<Event>) {
    this.#setHandler('open', handler)
  }

  /** Handler of `message` events (events without an `event:` field). */
  get onmessage(): Handler<MessageEvent<string>> {
    return (this.#handlers.message ?? null) as Handler<MessageEvent<string>>
  }
  set onmessage(handler: Handler<MessageEvent<string>>) {
    this.#setHandler('message', handler)
  }

  /** Handler of `error` events. */
  get onerror(): Handler<ConnectionErrorEvent> {
    return (this.#handlers.error ?? null) as Handler<ConnectionErrorEvent>
  }
  set onerror(handler: Handler<ConnectionErrorEvent>) {
    this.#setHandler('error', handler)
  }

  /** Closes the connection for good and cancels any pending reconnection. */
  close(): void {
    this.#state = 2
    this.#connection.close()
  }

  /** Adds a listener: `open`, `message`, `error`, or the name of an event the server sends. */
  override addEventListener<K extends keyof EventSourceEventMap>(
    type: K,
    listener: Listener<EventSourceEventMap[K]> | null,
    options?: boolean | AddEventListenerOptions,
  ): void
  override addEventListener(
    type: string,
    listener: Listener<MessageEvent<string>> | null,
    options?: boolean | AddEventListenerOptions,
  ): void
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void
  override addEventListener(
    type: string,
    listener: Listener<never> | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options)
  }

  /** Removes a listener added with {@link EventSource.addEventListener}. */
  override removeEventListener<K extends keyof EventSourceEventMap>(
    type: K,
    listener: Listener<EventSourceEventMap[K]> | null,
    options?: boolean | EventListenerOptions,
  ): void
  override removeEventListener(
    type: string,
    listener: Listener<MessageEvent<string>> | null,
    options?: boolean | EventListenerOptions,
  ): void
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void
  override removeEventListener(
    type: string,
    listener: Listener<never> | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListenerOrEventListenerObject | null, options)
  }

  // The handler attribute is one listener, added the first time a handler is set, that
  // calls whatever handler is current.
  #setHandler(type: string, handler: Handler<never>): void {
    if (!(type in this.#handlers)) {
      super.addEventListener(type, (event) =>
        (this.#handlers[type] as Handler<Event> | undefined)?.call(this, event),
      )
    }
    this.#handlers[type] = typeof handler === 'function' ? handler : null
  }
}
