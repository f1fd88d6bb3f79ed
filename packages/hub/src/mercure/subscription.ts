/**
 * A subscription on `/.well-known/mercure`, read from the request: its selectors (`topic=`
 * for draft-07, `match=` / `match_exact=` / `match_urlpattern=` for the current spec), where it
 * resumes (`Last-Event-ID`, else `last_event_id`, else draft-07's `lastEventID`), and the
 * answer headers (`Last-Event-ID` / `Mercure-Last-Event-ID`, `Cache-Control: private` for a
 * query token). Resumption is exact: a subscription without a cursor replays from the event the
 * header names, so nothing published between the answer and the registration is missed.
 */
import { HeraldError } from '@herald/protocol'
import type { EventStore, StoredEvent } from '@herald/store'
import { formatSequenceCursor, parseSequenceCursor, SEQUENCE_CURSORS } from '@herald/store'
import { EARLIEST } from './event-id.js'
import { createSelector, type MercureSelector, type SelectorKind } from './selector.js'

/** The Mercure view of a subscription the fan-out serves. */
export interface MercureSubscription {
  /** Its selectors, as written. */
  readonly selectors: readonly MercureSelector[]
  /**
   * The hub cursor to replay after, `EARLIEST` for the whole log; always set, so that the
   * replay and the live stream meet without a gap.
   */
  readonly cursor: string
  /** Headers to add to the stream answer. */
  readonly headers: Readonly<Record<string, string>>
}

/** The most recent event of the log, as the hub knows it. */
export interface LatestEvent {
  /** Hub cursor. */
  readonly cursor: string
  /** Mercure update id. */
  readonly id: string
}

/** Which parameter names carry selectors, and their kind. */
const MATCHERS: Readonly<Record<string, SelectorKind>> = {
  topic: 'template',
  match: 'exact',
  match_exact: 'exact',
  match_urlpattern: 'urlpattern',
}

/**
 * The selectors of a Mercure subscription URL. A parameter in the reserved `match` namespace
 * that names no supported matcher type is refused (400), as the current spec requires.
 *
 * @throws {HeraldError} `HERALD_INVALID_TOPIC` (400).
 */
export function selectorsOf(url: URL, base: string, max: number): MercureSelector[] {
  const selectors: MercureSelector[] = []
  const seen = new Set<string>()
  for (const [name, value] of url.searchParams) {
    const kind = MATCHERS[name]
    if (kind === undefined) {
      if (name.toLowerCase().startsWith('match')) {
        throw new HeraldError(
          'HERALD_INVALID_TOPIC',
          `unknown matcher parameter ${JSON.stringify(name)}: use match, match_exact or match_urlpattern (or topic)`,
          { status: 400 },
        )
      }
      continue
    }
    if (selectors.length >= max) {
      throw new HeraldError(
        'HERALD_INVALID_TOPIC',
        `at most ${max} topic selectors per subscription`,
        {
          status: 400,
        },
      )
    }
    const key = `${kind}\u0000${value}`
    if (seen.has(key)) continue
    seen.add(key)
    selectors.push(createSelector(kind, value, base))
  }
  if (selectors.length === 0) {
    throw new HeraldError(
      'HERALD_INVALID_TOPIC',
      'name at least one topic selector: /.well-known/mercure?topic=https://example.com/books/{id} (or match=, match_urlpattern=)',
      { status: 400 },
    )
  }
  return selectors
}

/**
 * The requested resume point: the `Last-Event-ID` header (already decoded), else the
 * `last_event_id` query parameter, else draft-07's `lastEventID`, else Herald's `lastEventId`.
 */
export function requestedCursor(header: string | undefined, url: URL): string | undefined {
  if (header !== undefined && header !== '') return header
  for (const name of ['last_event_id', 'lastEventID', 'lastEventId']) {
    const value = url.searchParams.get(name)
    if (value !== null && value !== '') return value
  }
  return undefined
}

/**
 * The newest event of `store`, with its Mercure id. `seen` is the newest the node tail
 * delivered (`undefined` before the first). Without it, sequence stores read their newest
 * event back; other stores answer its cursor as its id.
 */
export async function latestEvent(
  store: EventStore,
  seen: StoredEvent | undefined,
): Promise<LatestEvent | undefined> {
  const health = await store.health()
  const latestId = health.ok ? health.latestId : undefined
  if (latestId === undefined) return undefined
  if (seen !== undefined && store.cursors.compare(seen.id, latestId) >= 0) {
    return { cursor: seen.id, id: seen.clientId ?? seen.id }
  }
  const seq = store.cursors === SEQUENCE_CURSORS ? parseSequenceCursor(latestId) : undefined
  if (seq !== undefined && seq > 0) {
    const page = await store.read(formatSequenceCursor(seq - 1), { topics: ['**'], limit: 1 })
    const event = page.kind === 'events' ? page.events[0] : undefined
    if (event !== undefined && event.id === latestId) {
      return { cursor: event.id, id: event.clientId ?? event.id }
    }
  }
  return { cursor: latestId, id: latestId }
}

/**
 * Where a Mercure subscription starts, and the `Last-Event-ID` its answer carries: the event
 * preceding the first one sent, or `earliest`.
 *
 * - `earliest`: the whole log; header `earliest`.
 * - a known update id (or a hub cursor): replay after it; header that id.
 * - an unknown id, or none: live, replayed from the newest event (exact); header its id, or
 *   `earliest` when the log is empty (a subscriber comparing it to what it asked sees the loss).
 */
export async function resumePoint(
  store: EventStore,
  requested: string | undefined,
  latest: () => Promise<LatestEvent | undefined>,
): Promise<{ cursor: string; header: string }> {
  if (requested === EARLIEST) return { cursor: EARLIEST, header: EARLIEST }
  if (requested !== undefined) {
    const cursor = await store.findCursor?.(requested)
    if (cursor !== undefined) return { cursor, header: requested }
    // A hub cursor works too (what `POST /publish` answers, and a publisher may advertise).
    const page = await store.read(requested, { topics: ['**'], limit: 1 })
    if (page.kind === 'events') return { cursor: requested, header: requested }
  }
  const newest = await latest()
  if (newest === undefined) return { cursor: EARLIEST, header: EARLIEST }
  return { cursor: newest.cursor, header: newest.id }
}
