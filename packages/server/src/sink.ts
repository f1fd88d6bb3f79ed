/**
 * The boundary between a session and its transport: somewhere to put bytes, that can tell how
 * many it still holds, and that can be ended politely or torn down.
 */

/** Transport events a sink reports back to its session. */
export interface SinkOwner {
  /** The transport closed or failed without the session asking. */
  transportClosed(reason: 'client' | 'error', error?: unknown): void
}

/** Where a session's coalesced bytes go. One `write` per session per event-loop turn. */
export interface Sink {
  /** Writes one coalesced chunk. */
  write(chunk: Uint8Array): void
  /** Bytes the transport holds that the peer has not taken yet. */
  readonly buffered: number
  /**
   * Ends the stream after what was written; `done` runs once the transport has let go of it
   * (the peer took the bytes, or the connection died).
   */
  end(done?: () => void): void
  /** Drops everything buffered and tears the stream down now. */
  destroy(): void
  /**
   * Calls `listener` whenever the transport has handed buffered bytes to the peer (Node
   * `'drain'`, a Fetch body pull). Set up on demand: only sessions whose producer waits with
   * `ready()` pay for it.
   */
  onDrain(listener: () => void): void
}
