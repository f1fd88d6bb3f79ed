/**
 * The event objects `EventSource` dispatches.
 */
import type { HeraldError } from '@herald/protocol'

/**
 * The `error` event of a Herald `EventSource`. A plain `Event` to code written for the
 * native one, with the reason attached.
 */
export class ConnectionErrorEvent extends Event {
  /** What went wrong; `code` is a `HERALD_CLIENT_*` code, `status` the HTTP status if any. */
  readonly error: HeraldError
  /** `true` when the source gave up and is now `CLOSED`; `false` when it will reconnect. */
  readonly fatal: boolean
  /** Milliseconds until the next attempt, when not fatal. */
  readonly delayMs: number | undefined

  constructor(error: HeraldError, fatal: boolean, delayMs?: number) {
    super('error')
    this.error = error
    this.fatal = fatal
    this.delayMs = delayMs
  }
}

/** A minimal `MessageEvent` for runtimes that have `Event` but not `MessageEvent`. */
class FallbackMessageEvent extends Event {
  readonly source = null
  readonly ports = []

  constructor(type: string, init: MessageEventInit<string>) {
    super(type)
    // `data`, `origin` and `lastEventId`: all the client ever passes.
    Object.assign(this, init)
  }
}

/** Creates a `MessageEvent`, with the platform's class when it has one (looked up lazily). */
export function createMessageEvent(type: string, init: MessageEventInit<string>): MessageEvent {
  return new (globalThis.MessageEvent ?? FallbackMessageEvent)(type, init) as MessageEvent
}
