/**
 * The dashboard's admin views, free of HTTP: the connected-clients page (searched and paged
 * on the hub, so the browser never holds 15 000 rows) and the tail (a rate-capped copy of
 * the events a pattern matches, topic included, for the playground).
 */
import type { Session, StreamServer } from '@herald/server'
import type { StoredEvent, TopicMatcher } from '@herald/store'
import { createTopicMatcher } from '@herald/store'
import type { DashboardPeers, NodeClientCount } from './dashboard-peers.js'
import type { HubStats } from './stats.js'

/** One static file of the dashboard. */
export interface DashboardAsset {
  /** File contents (the built dashboard is text only: HTML, JS, CSS, SVG). */
  readonly body: string
  /** `Content-Type`. */
  readonly contentType: string
}

/** The dashboard's files by URL path (`/index.html`, `/dashboard/index-abc123.js`, ...). */
export type DashboardAssets = ReadonlyMap<string, DashboardAsset>

/** What the dashboard routes read: built once by `createHub`. */
export interface DashboardServices {
  readonly stats: HubStats
  readonly tails: Tails
  /** The stream server of the dashboard's own streams (not counted as connections). */
  readonly streams: StreamServer
  /** The built front end; without it `/` stays the JSON index and only the API is served. */
  readonly assets: DashboardAssets | undefined
  /** Subscribers on this node, in connection order. */
  clients(): Iterable<ClientView>
  /** How many. */
  clientCount(): number
  /** The hub's other processes: the clients table then spans them all. */
  readonly peers?: DashboardPeers | undefined
}

/** One subscriber as the fan-out knows it. */
export interface ClientView {
  readonly id: string
  readonly ip: string
  readonly topics: readonly string[]
  /** Connected at, ms since the epoch. */
  readonly since: number
  readonly queuedBytes: number
  /** The cursor it resumed from, or `null` for a live-only connect. */
  readonly lastEventId: string | null
  /** Token subject, if the subscriber sent a token with one. */
  readonly subject: string | null
  /** The process (worker) it is connected to, in a page spanning several. */
  readonly node?: string | undefined
}

/** A page of `GET /dashboard/api/clients`. */
export interface ClientsPage {
  /** Subscribers on this node (on every worker, with `herald serve --workers`). */
  readonly total: number
  /** Subscribers matching `q`. */
  readonly matched: number
  readonly offset: number
  readonly limit: number
  /** Oldest connection first (worker after worker, in name order, when several). */
  readonly clients: readonly ClientView[]
  /** With several workers: each one's count and matches, in page order. */
  readonly nodes?: readonly NodeClientCount[] | undefined
}

/** Paging and search of {@link listClients}. */
export interface ClientsQuery {
  /** Case-insensitive substring of the address, a topic, the session id or the subject. */
  readonly q?: string | undefined
  readonly offset?: number | undefined
  readonly limit?: number | undefined
}

/** Largest page of the clients table. */
export const MAX_CLIENTS_PAGE = 500

/** The page a query asks for: `offset` from 0, `limit` from 1 to {@link MAX_CLIENTS_PAGE} (default 50). */
export function pageBounds(query: ClientsQuery): { offset: number; limit: number } {
  return {
    offset: Math.max(0, Math.floor(query.offset ?? 0)),
    limit: Math.min(MAX_CLIENTS_PAGE, Math.max(1, Math.floor(query.limit ?? 50))),
  }
}

/**
 * One page of `clients` (in connection order) matching `query`: without a search it reads only
 * up to the page's end; a search is one pass, no copy of the whole set.
 */
export function listClients(
  clients: Iterable<ClientView>,
  total: number,
  query: ClientsQuery,
): ClientsPage {
  const { offset, limit } = pageBounds(query)
  const q = (query.q ?? '').trim().toLowerCase()
  const page: ClientView[] = []
  let matched = 0
  if (q === '') {
    // No search: every client matches, so stop once the page is full.
    for (const client of clients) {
      if (matched >= offset) page.push(client)
      if (++matched >= offset + limit) break
    }
    return { total, matched: total, offset, limit, clients: page }
  }
  for (const client of clients) {
    if (!matches(client, q)) continue
    if (matched >= offset && page.length < limit) page.push(client)
    matched++
  }
  return { total, matched, offset, limit, clients: page }
}

function matches(client: ClientView, q: string): boolean {
  if (client.ip.toLowerCase().includes(q) || client.id.toLowerCase().includes(q)) return true
  if (client.subject?.toLowerCase().includes(q)) return true
  for (const topic of client.topics) if (topic.toLowerCase().includes(q)) return true
  return false
}

/** What the tail sends per event (`event: event`). */
export interface TailEvent {
  readonly id: string
  readonly topic: string
  readonly type?: string | undefined
  readonly data: string
  readonly private: boolean
  readonly publishedAt: number
}

/** Events a tail sends per second at most; the rest are counted (`event: dropped`). */
export const TAIL_MAX_PER_SECOND = 50

interface Tail {
  readonly session: Session
  readonly matcher: TopicMatcher
  windowStart: number
  sent: number
  dropped: number
}

/** The open tails of a node. */
export interface Tails {
  /** Starts tailing `pattern` (validated by the caller) into `session`. */
  add(session: Session, pattern: string): void
  /** Copies the matching events of a dispatched batch to every tail. */
  dispatch(events: readonly StoredEvent[]): void
  readonly size: number
}

/** Creates the tail registry. */
export function createTails(now: () => number = Date.now): Tails {
  const tails = new Set<Tail>()
  function flushDropped(tail: Tail): void {
    if (tail.dropped === 0) return
    tail.session.send({ event: 'dropped', data: JSON.stringify({ count: tail.dropped }) })
    tail.dropped = 0
  }
  // A burst followed by silence still reports what it dropped, within a second or so.
  let timer: ReturnType<typeof setInterval> | undefined
  function sweep(): void {
    const t = now()
    for (const tail of tails) {
      if (tail.dropped > 0 && t - tail.windowStart >= 1000) {
        flushDropped(tail)
        tail.windowStart = t
        tail.sent = 0
      }
    }
  }
  return {
    get size() {
      return tails.size
    },
    add(session, pattern) {
      const tail: Tail = {
        session,
        matcher: createTopicMatcher([pattern]),
        windowStart: now(),
        sent: 0,
        dropped: 0,
      }
      tails.add(tail)
      if (timer === undefined) {
        timer = setInterval(sweep, 1000)
        ;(timer as { unref?: () => void }).unref?.()
      }
      session.signal.addEventListener(
        'abort',
        () => {
          tails.delete(tail)
          if (tails.size === 0 && timer !== undefined) {
            clearInterval(timer)
            timer = undefined
          }
        },
        { once: true },
      )
    },
    dispatch(events) {
      if (tails.size === 0) return
      const t = now()
      for (const tail of tails) {
        if (t - tail.windowStart >= 1000) {
          flushDropped(tail)
          tail.windowStart = t
          tail.sent = 0
        }
        for (const event of events) {
          if (!tail.matcher.matches(event.topic)) continue
          if (tail.sent >= TAIL_MAX_PER_SECOND) {
            tail.dropped++
            continue
          }
          tail.sent++
          const view: TailEvent = {
            id: event.id,
            topic: event.topic,
            ...(event.type === undefined ? {} : { type: event.type }),
            data: event.data,
            private: event.private,
            publishedAt: event.publishedAt,
          }
          tail.session.send({ event: 'event', id: event.id, data: JSON.stringify(view) })
        }
      }
    },
  }
}
