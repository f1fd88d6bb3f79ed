/**
 * Sink over a Node writable: an `http.ServerResponse`, or a `node:http2` stream.
 *
 * Listeners are shared functions (not closures per session) and find their session through a
 * symbol on the writable: fewer allocations per idle connection.
 */
import type { Sink, SinkOwner } from './sink.js'

/** The part of `ServerResponse` / `Http2Stream` a sink uses. */
export interface NodeWritable {
  write(chunk: Uint8Array, done?: (error?: Error | null) => void): boolean
  cork?(): void
  uncork?(): void
  end(): unknown
  destroy(error?: Error): unknown
  readonly writableLength: number
  readonly destroyed: boolean
  on(event: 'close', listener: () => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
}

const kOwner = Symbol('herald.session')
/** RST_STREAM code CANCEL (RFC 9113, section 7). */
const NGHTTP2_CANCEL = 8

type Owned = NodeWritable & { [kOwner]?: SinkOwner | undefined }

function onClose(this: Owned): void {
  const owner = this[kOwner]
  this[kOwner] = undefined
  owner?.transportClosed('client')
}

// A peer that vanishes mid-write surfaces as one of these: the client left, nothing failed.
const PEER_GONE: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED'])

function onError(this: Owned, error: Error): void {
  const owner = this[kOwner]
  this[kOwner] = undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && PEER_GONE.has(code)) owner?.transportClosed('client')
  else owner?.transportClosed('error', error)
}

/**
 * Writes `chunks` corked, so that a socket sends them with one `writev` (the buffers as they
 * are, no join). `done` rides on the last chunk: it runs once all of them were taken.
 */
function writeCorked(
  writable: Pick<NodeWritable, 'write' | 'cork' | 'uncork'>,
  chunks: readonly Uint8Array[],
  done: (() => void) | undefined,
): void {
  const last = chunks.length - 1
  if (last < 0) {
    done?.()
    return
  }
  writable.cork?.()
  for (let i = 0; i < last; i++) writable.write(chunks[i] as Uint8Array)
  writable.write(chunks[last] as Uint8Array, done)
  writable.uncork?.()
}

/** @internal */
export class NodeSink implements Sink {
  protected readonly writable: Owned

  constructor(writable: NodeWritable) {
    this.writable = writable
  }

  /** Connects transport events to the session (after the session exists). */
  attach(owner: SinkOwner): void {
    const writable = this.writable
    writable[kOwner] = owner
    writable.on('close', onClose)
    writable.on('error', onError)
    if (writable.destroyed) onClose.call(writable)
  }

  write(chunk: Uint8Array, done?: () => void): void {
    this.writable.write(chunk, done)
  }

  writev(chunks: readonly Uint8Array[], done?: () => void): void {
    writeCorked(this.writable, chunks, done)
  }

  get buffered(): number {
    return this.writable.writableLength
  }

  onDrain(listener: () => void): void {
    ;(this.writable as unknown as { on(event: 'drain', listener: () => void): unknown }).on(
      'drain',
      listener,
    )
  }

  /** Stops reporting transport events to the session (it is closing on its own terms). */
  protected detach(): void {
    this.writable[kOwner] = undefined
  }

  end(done?: () => void): void {
    this.detach()
    if (done !== undefined) {
      if (this.writable.destroyed) done()
      else this.writable.on('close', done)
    }
    this.writable.end()
  }

  destroy(): void {
    this.detach()
    const writable = this.writable as Owned & { close?: unknown; rstCode?: unknown }
    // An HTTP/2 stream is reset with CANCEL (so the peer drops it even with unread data);
    // an HTTP/1.1 response tears down its socket.
    if ('rstCode' in writable && typeof writable.close === 'function') {
      ;(writable.close as (code: number) => void)(NGHTTP2_CANCEL)
    } else writable.destroy()
  }
}

/** The socket under an HTTP/1.1 response, as far as a sink needs it. */
export interface NodeSocketLike {
  write(chunk: Uint8Array, done?: (error?: Error | null) => void): boolean
  on?(event: 'drain', listener: () => void): unknown
  cork?(): void
  uncork?(): void
  readonly writableLength: number
  readonly destroyed: boolean
}

/**
 * @internal HTTP/1.1 fast path: once the headers are out, bytes go straight to the socket.
 * The response is close-delimited (no chunked framing, like nchan), so a shared frame is
 * written as is: no per-session copy, no chunk-size line, one `write` per flush instead of
 * `ServerResponse.write`'s four corked writes and a `nextTick` per call. Ending and tearing
 * down still go through the response, which closes the connection after the last byte.
 */
export class Http1SocketSink extends NodeSink {
  private readonly socket: NodeSocketLike

  constructor(response: NodeWritable, socket: NodeSocketLike) {
    super(response)
    this.socket = socket
  }

  override write(chunk: Uint8Array, done?: () => void): void {
    // Between a peer reset and the response's 'close' event, writing would only raise errors.
    if (!this.socket.destroyed) this.socket.write(chunk, done)
  }

  override writev(chunks: readonly Uint8Array[], done?: () => void): void {
    if (!this.socket.destroyed) writeCorked(this.socket, chunks, done)
  }

  override get buffered(): number {
    return this.socket.writableLength
  }

  override onDrain(listener: () => void): void {
    this.socket.on?.('drain', listener)
  }
}
