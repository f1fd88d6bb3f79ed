/**
 * The boundary between a session and its transport: somewhere to put bytes, that can tell how
 * many it still holds, and that can be ended politely or torn down.
 */

/** Transport events a sink reports back to its session. */
export interface SinkOwner {
  /** The transport closed or failed without the session asking. */
  transportClosed(reason: 'client' | 'error', error?: unknown): void
  /** A write given {@link ownerWritten} as its `done` completed (sinks that report writes). */
  written?(): void
}

/**
 * Given as a write's `done` to a sink that {@link Sink.reportsWrites}: instead of calling a
 * callback, the sink tells its owner ({@link SinkOwner.written}) once the transport took the
 * chunk. It spares every session a write callback of its own (a bound function, 72 bytes, kept
 * for the session's life once it wrote). Never called itself.
 */
export function ownerWritten(): void {}

/**
 * Where a session's coalesced bytes go. A session has at most one write in flight: it hands
 * the transport more only once `done` of the previous write ran, so frames that pile up while
 * a peer does not read stay in the session's queue as references to the shared frames (and
 * count against its bound) instead of as private copies inside the transport.
 */
export interface Sink {
  /**
   * Writes one chunk. `done` runs once the transport has taken it (handed it to the kernel,
   * or queued it where `buffered` counts it); it may never run if the transport dies.
   */
  write(chunk: Uint8Array, done?: () => void): void
  /**
   * Writes several chunks in order as ONE transport write where the transport can (a socket's
   * `writev`): the chunks are the shared frames themselves, never copied. `done` as in `write`.
   */
  writev(chunks: readonly Uint8Array[], done?: () => void): void
  /** `true` when the sink understands {@link ownerWritten} as a write's `done`. */
  readonly reportsWrites?: boolean
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
