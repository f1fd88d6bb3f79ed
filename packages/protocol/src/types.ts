/**
 * An event dispatched by the parser, as the WHATWG "dispatch the event" step builds it.
 */
export interface ServerSentEvent {
  /** Event type: the last `event:` field of the block, or `"message"` when absent or empty. */
  type: string
  /** The `data:` lines of the block joined with LF. */
  data: string
  /** The stream's last event ID when the event was dispatched (persists across events). */
  lastEventId: string
}

/** An event to encode. See {@link encodeEvent}. */
export interface EventInit {
  /** Payload. Any CR, LF or CRLF splits it into several `data:` lines (read back as LF). */
  data: string
  /** Event type. Must not contain CR or LF. Omitted (or empty) means `"message"`. */
  event?: string | undefined
  /** Event ID. Must not contain CR, LF or NUL. */
  id?: string | undefined
  /** Reconnection time hint in milliseconds: a non-negative integer. */
  retry?: number | undefined
}
