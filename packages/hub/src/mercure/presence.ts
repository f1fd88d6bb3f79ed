/**
 * Mercure's active subscriptions: an update when a subscription starts and when it ends (on the
 * topic `/.well-known/mercure/subscriptions/{topic}/{subscriber}`, private, a JSON-LD document),
 * and the web API listing the active ones. The documents go through the log like any update, so
 * every node sees every node's subscriptions: the API folds the log's subscription updates
 * (incrementally, from where it last read), then answers. Draft-07's shapes, as Symfony and API
 * Platform consume them.
 */
import { randomUUID } from 'node:crypto'
import type { Logger, Session } from '@herald/server'
import type { AppendInput, EventStore, StoredEvent } from '@herald/store'
import type { Principal } from '../auth.js'
import { payloadFor } from './claims.js'
import { EARLIEST } from './event-id.js'
import { MERCURE_PATH } from './reserved.js'
import type { MercureSubscription } from './subscription.js'

/** Where subscription updates live. */
export const SUBSCRIPTIONS_PATH = `${MERCURE_PATH}/subscriptions`
/** The store pattern matching every subscription update (Herald pattern syntax). */
const SUBSCRIPTIONS_PATTERN = `${SUBSCRIPTIONS_PATH}/**`
const CONTEXT = 'https://mercure.rocks/'

/** One subscription, as Mercure documents it. */
export interface SubscriptionDocument {
  '@context'?: string
  id: string
  type: 'Subscription'
  topic: string
  subscriber: string
  active: boolean
  payload?: unknown
}

/**
 * RFC 6570 simple expansion of one variable: every character outside the unreserved set is
 * percent-encoded as UTF-8, once (a `%` already in the value is encoded too).
 */
export function expandVariable(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  )
}

/** The topic of a subscription's updates. */
export function subscriptionTopic(selector: string, subscriber: string): string {
  return `${SUBSCRIPTIONS_PATH}/${expandVariable(selector)}/${expandVariable(subscriber)}`
}

/** What the hub needs for presence. */
export interface PresenceOptions {
  store: EventStore
  logger: Logger
  /** The hub's write path. */
  append(events: readonly AppendInput[], startedAt: number): Promise<StoredEvent[]>
}

/** Presence: subscription updates and the API's view of them. */
export interface Presence {
  /** Publishes the start of `session`'s subscriptions, and their end when it closes. */
  join(session: Session, mercure: MercureSubscription, principal: Principal): void
  /** The active subscriptions of every node, optionally of one selector or one subscription. */
  list(): Promise<{ subscriptions: SubscriptionDocument[]; lastEventId: string }>
  /** Resolves once the updates of closed sessions are written (call before closing the store). */
  flush(): Promise<void>
}

/** Creates presence over the hub's log. */
export function createPresence(options: PresenceOptions): Presence {
  const { store, logger } = options
  const pending = new Set<Promise<unknown>>()
  // The fold of the log's subscription updates, and where it stopped reading.
  const active = new Map<string, SubscriptionDocument>()
  let cursor: string | undefined
  let lastEventId = EARLIEST
  let folding: Promise<void> | undefined

  function publish(docs: SubscriptionDocument[]): void {
    const events = docs.map((doc) => ({
      topic: doc.id,
      data: JSON.stringify({ '@context': CONTEXT, ...doc }),
      private: true,
    }))
    const write = options.append(events, performance.now()).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not publish a subscription update')
    })
    pending.add(write)
    write.finally(() => pending.delete(write))
  }

  async function fold(): Promise<void> {
    for (;;) {
      const page = await store.read(cursor, { topics: [SUBSCRIPTIONS_PATTERN], limit: 500 })
      if (page.kind === 'reset') {
        // Retention passed where the fold stopped: fold the log again from its start.
        active.clear()
        cursor = undefined
        continue
      }
      for (const event of page.events) {
        try {
          const doc = JSON.parse(event.data) as SubscriptionDocument
          const { '@context': _, ...rest } = doc
          if (rest.active) active.set(rest.id, rest)
          else active.delete(rest.id)
        } catch {
          // Not a document the hub wrote (it would have refused the publish): skip.
        }
      }
      cursor = page.cursor ?? cursor
      if (!page.more) break
    }
    // Where the fold stopped: resuming subscription updates from here misses none.
    if (cursor !== undefined) lastEventId = cursor
  }

  return {
    join(session, mercure, principal) {
      const subscriber = `urn:uuid:${randomUUID()}`
      const docs = mercure.selectors.map((selector): SubscriptionDocument => {
        const payload = payloadFor(principal.mercure, selector.value)
        return {
          id: subscriptionTopic(selector.value, subscriber),
          type: 'Subscription',
          topic: selector.value,
          subscriber,
          active: true,
          ...(payload === undefined ? {} : { payload }),
        }
      })
      publish(docs)
      session.signal.addEventListener(
        'abort',
        () => publish(docs.map((doc) => ({ ...doc, active: false }))),
        { once: true },
      )
    },

    async list() {
      // One fold at a time; callers arriving meanwhile share it.
      folding ??= fold().finally(() => {
        folding = undefined
      })
      await folding
      return { subscriptions: [...active.values()], lastEventId }
    },

    async flush() {
      while (pending.size > 0) await Promise.all([...pending])
    },
  }
}
