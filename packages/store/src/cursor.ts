/**
 * Cursors: each store owns the order of the ids it issues ({@link CursorOrder}). The
 * built-in stores issue fixed-width decimal sequence numbers; the helpers here are theirs,
 * and any store with a numeric sequence can reuse them.
 */

/** How a store orders its cursors. */
export interface CursorOrder {
  /**
   * Compares two cursors issued by the store: negative when `a` is older, 0 when equal,
   * positive when newer. Total and consistent with the order of the log; only called on
   * ids the store issued.
   */
  compare(a: string, b: string): number
}

/**
 * Compares fixed-width cursors (see {@link formatSequenceCursor}) as strings; a shorter
 * string is older. Also right for any store whose ids are zero-padded to one width.
 */
export function compareCursors(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length
  return a < b ? -1 : a > b ? 1 : 0
}

/** The {@link CursorOrder} of fixed-width sequence cursors. */
export const SEQUENCE_CURSORS: CursorOrder = Object.freeze({ compare: compareCursors })

/** Width of the decimal cursors issued by the built-in stores. */
export const SEQUENCE_CURSOR_WIDTH = 16

/** Formats a sequence number as a fixed-width, zero-padded decimal cursor. */
export function formatSequenceCursor(sequence: number): string {
  return String(sequence).padStart(SEQUENCE_CURSOR_WIDTH, '0')
}

/**
 * Parses a cursor issued by {@link formatSequenceCursor} (any decimal string of at most 16
 * digits is accepted, so `0` means "before the first event"). Returns `undefined` for
 * anything else.
 */
export function parseSequenceCursor(cursor: string): number | undefined {
  if (cursor.length === 0 || cursor.length > SEQUENCE_CURSOR_WIDTH) return undefined
  for (let i = 0; i < cursor.length; i++) {
    const c = cursor.charCodeAt(i)
    if (c < 48 || c > 57) return undefined
  }
  const n = Number(cursor)
  return Number.isSafeInteger(n) ? n : undefined
}

/** Why a cursor cannot be resumed. */
export type ResetReason =
  /** Events after the cursor were deleted by retention: resuming would hide a gap. */
  | 'expired'
  /** The cursor was never issued by this store (malformed, from another store, or ahead of it). */
  | 'unknown'

/**
 * Checks a resume cursor against a sequence store's bounds: the sequence to read after, or
 * why it cannot be resumed. A cursor that does not parse or lies ahead of the newest event
 * is `unknown`; one older than what retention already deleted (hub-wide, or for a topic the
 * subscription matches: `topicPrunedThrough` holds `[topic, last deleted sequence]` pairs) is
 * `expired`.
 */
export function checkSequenceCursor(
  cursor: string,
  latest: number,
  prunedThrough: number,
  topicPrunedThrough: Iterable<readonly [topic: string, through: number]>,
  matcher: { matches(topic: string): boolean },
): number | ResetReason {
  const seq = parseSequenceCursor(cursor)
  if (seq === undefined || seq > latest) return 'unknown'
  if (seq < prunedThrough) return 'expired'
  for (const [topic, through] of topicPrunedThrough) {
    if (through > seq && matcher.matches(topic)) return 'expired'
  }
  return seq
}
