/**
 * The lean path's transport once a stream's response head is out: the connection's libuv TCP
 * handle itself, without node:net's `Socket` around it.
 *
 * Why: an idle stream on a `Socket` keeps the socket object, its readable and writable states
 * (with their buffer arrays and a bound write callback), its event table and listener arrays:
 * about 0.8 KiB of V8 heap per stream, for a connection that only ever gets whole frames
 * written, one write at a time, and is never read from (client bytes are dropped). Here a stream
 * is the handle (its JS object and the C++ `TCPWrap`) and this object.
 *
 * How: the same internal bindings node:net itself writes through (`stream_wrap`'s `WriteWrap`,
 * `ShutdownWrap` and shared state), reached with `process.binding`, which Node keeps for these
 * modules. Their calling convention changed in Node 24 (a write returns its request instead of
 * taking one); both are handled, and anything else (another runtime, a future Node that
 * changes them again) is detected up front and the stream keeps its `Socket`
 * ({@link takeHandle} returns `undefined`).
 */
import { ownerWritten, type Sink, type SinkOwner } from './sink.js'

/** The parts of `internalBinding('stream_wrap')` used here. */
interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest
  ShutdownWrap: new () => ShutdownRequest
  streamBaseState: Int32Array
  kReadBytesOrError: number
  kLastWriteWasAsync: number
  /** Node 24+: a write returns its request (async) or a status (done), errors land here. */
  kLastWriteErr?: number
}

interface WriteRequest {
  handle: TcpHandle
  oncomplete: (this: WriteRequest, status: number) => void
  async: boolean
  bytes: number
  /** What the write reads from, kept alive until it completes. */
  buffer: unknown
  callback: unknown
  sink: HandleSink | undefined
  done: (() => void) | undefined
  /** Node 24+: a status recorded before `oncomplete` was attached. */
  writeStatus?: number | null
}

interface ShutdownRequest {
  handle: TcpHandle
  oncomplete: (this: ShutdownRequest, status: number) => void
  callback: unknown
  sink: HandleSink | undefined
}

/** A libuv TCP handle (`internalBinding('tcp_wrap').TCP`), as far as a stream uses it. */
export interface TcpHandle {
  writeBuffer(req: WriteRequest | null, chunk: Uint8Array): number | WriteRequest
  writev(
    req: WriteRequest | null,
    chunks: readonly Uint8Array[],
    allBuffers: true,
  ): number | WriteRequest
  shutdown(req: ShutdownRequest): number
  readStart(): number
  close(callback?: () => void): void
  setNoDelay?(on: boolean): number
  onread: ((buffer: ArrayBuffer | undefined) => unknown) | null
  readonly writeQueueSize: number
  reading?: boolean
}

/** What {@link takeHandle} needs of a `net.Socket` (its internals, read with care). */
interface SocketInternals {
  _handle?: unknown
  readonly destroyed: boolean
  readonly readable: boolean
  readonly writable: boolean
  readonly writableLength: number
  readonly server?: unknown
  removeAllListeners(): unknown
  destroy(): unknown
}

interface Bindings {
  wrap: StreamWrapBinding
  /** Node 24's convention: writes take no request. */
  returnsRequest: boolean
  owner: symbol | undefined
}

let bindings: Bindings | null | undefined

function loadBindings(): Bindings | null {
  try {
    const binding = (globalThis as { process?: { binding?: (name: string) => unknown } }).process
      ?.binding
    if (typeof binding !== 'function') return null
    const wrap = binding('stream_wrap') as Partial<StreamWrapBinding> | undefined
    if (
      wrap === undefined ||
      typeof wrap.WriteWrap !== 'function' ||
      typeof wrap.ShutdownWrap !== 'function' ||
      !(wrap.streamBaseState instanceof Int32Array) ||
      typeof wrap.kReadBytesOrError !== 'number' ||
      typeof wrap.kLastWriteWasAsync !== 'number'
    ) {
      return null
    }
    return {
      wrap: wrap as StreamWrapBinding,
      returnsRequest: typeof wrap.kLastWriteErr === 'number',
      owner: undefined,
    }
  } catch {
    return null
  }
}

function isTcpHandle(value: unknown): value is TcpHandle {
  if (value === null || typeof value !== 'object') return false
  const handle = value as Record<string, unknown>
  return (
    typeof handle.writeBuffer === 'function' &&
    typeof handle.writev === 'function' &&
    typeof handle.shutdown === 'function' &&
    typeof handle.readStart === 'function' &&
    typeof handle.close === 'function' &&
    typeof handle.writeQueueSize === 'number' &&
    'onread' in handle
  )
}

/** Peer errors that mean the client went away (nothing failed on this side). */
const PEER_GONE: ReadonlySet<string> = new Set([
  'EOF',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
])

function errorName(status: number): string {
  try {
    const util = (
      globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
    ).process?.getBuiltinModule?.('node:util') as
      | { getSystemErrorName(code: number): string }
      | undefined
    return util?.getSystemErrorName(status) ?? `E${-status}`
  } catch {
    return `E${-status}`
  }
}

function systemError(status: number, syscall: string): Error {
  const code = errorName(status)
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: status, syscall })
}

function noop(): void {}

/** `oncomplete` of an async write: `this` is the request. */
function afterWrite(this: WriteRequest, status: number): void {
  const sink = this.sink
  const done = this.done
  this.sink = undefined
  this.done = undefined
  this.buffer = null
  if (sink === undefined) return
  if (status < 0) sink.failed(status, 'write')
  else {
    sink.completed(done)
    sink.drained()
  }
}

/** `oncomplete` of the shutdown that ends a stream. */
function afterShutdown(this: ShutdownRequest): void {
  const sink = this.sink
  this.sink = undefined
  sink?.close()
}

/** The handle's `onread`: `this` is the handle. Client bytes are dropped; EOF or an error closes. */
function onRead(this: TcpHandle): void {
  const state = bindings as Bindings
  const nread = state.wrap.streamBaseState[state.wrap.kReadBytesOrError] as number
  if (nread >= 0) return
  const sink = (this as unknown as Record<symbol, unknown>)[state.owner as symbol]
  if (sink instanceof HandleSink) sink.failed(nread, 'read')
}

/**
 * @internal A sink over a bare TCP handle (see the module comment). One write in flight at a
 * time (the session's rule), so `buffered` is what the kernel has not taken of that write.
 */
export class HandleSink implements Sink {
  /** It understands {@link ownerWritten} (on the prototype: no field per sink). */
  declare readonly reportsWrites: true
  private handle: TcpHandle | undefined
  private owner: SinkOwner | undefined = undefined
  // Sessions waiting in ready(): rare, so a single listener, or an array past the first.
  private drain: (() => void) | (() => void)[] | undefined = undefined
  // end()'s callback: runs once the handle is closed.
  private ended: (() => void) | undefined = undefined
  /**
   * The `net.Server` that accepted the connection, so that a listener shutting down can find
   * the streams it accepted among the process's open handles.
   */
  readonly server: unknown

  constructor(handle: TcpHandle, server: unknown) {
    this.handle = handle
    this.server = server
  }

  /** Connects transport events to the session (after the session exists). */
  attach(owner: SinkOwner): void {
    if (this.handle === undefined) owner.transportClosed('client')
    else this.owner = owner
  }

  write(chunk: Uint8Array, done?: () => void): void {
    const handle = this.handle
    if (handle === undefined) return
    const state = bindings as Bindings
    if (state.returnsRequest) this.dispatched(handle.writeBuffer(null, chunk), chunk, done)
    else {
      const req = request(handle)
      this.dispatched(handle.writeBuffer(req, chunk), chunk, done, req)
    }
  }

  writev(chunks: readonly Uint8Array[], done?: () => void): void {
    const handle = this.handle
    if (handle === undefined) return
    if (chunks.length === 1) {
      this.write(chunks[0] as Uint8Array, done)
      return
    }
    const state = bindings as Bindings
    if (state.returnsRequest) this.dispatched(handle.writev(null, chunks, true), chunks, done)
    else {
      const req = request(handle)
      this.dispatched(handle.writev(req, chunks, true), chunks, done, req)
    }
  }

  /**
   * After a write call: completes it now (the kernel took it all), or arms its request to
   * complete later, keeping `data` alive until then. Both conventions end up here.
   */
  private dispatched(
    result: number | WriteRequest,
    data: unknown,
    done: (() => void) | undefined,
    req?: WriteRequest,
  ): void {
    const wrap = (bindings as Bindings).wrap
    if (typeof result === 'number') {
      if (req === undefined) {
        // Node 24+: a number is the whole story (0, or the error).
        if (result !== 0) this.failLater(result)
        else this.completed(done)
        return
      }
      if (result !== 0) {
        this.failLater(result)
        return
      }
      if (wrap.streamBaseState[wrap.kLastWriteWasAsync] === 0) {
        this.completed(done)
        return
      }
      req.sink = this
      req.done = done
      req.buffer = data
      return
    }
    // Node 24+: an async write's request.
    const error = wrap.streamBaseState[wrap.kLastWriteErr as number] as number
    if (error !== 0) {
      this.failLater(error)
      return
    }
    result.handle = this.handle as TcpHandle
    result.oncomplete = afterWrite
    result.sink = this
    result.done = done
    result.buffer = data
    const status = result.writeStatus
    if (status !== null && status !== undefined) {
      result.writeStatus = null
      afterWrite.call(result, status)
    }
  }

  /** @internal A write completed: runs its `done`, or tells the owner ({@link ownerWritten}). */
  completed(done: (() => void) | undefined): void {
    if (done === ownerWritten) this.owner?.written?.()
    else done?.()
  }

  get buffered(): number {
    return this.handle?.writeQueueSize ?? 0
  }

  onDrain(listener: () => void): void {
    const drain = this.drain
    if (drain === undefined) this.drain = listener
    else if (typeof drain === 'function') this.drain = [drain, listener]
    else drain.push(listener)
  }

  /** @internal A write completed: tell those waiting for room. */
  drained(): void {
    const drain = this.drain
    if (drain === undefined) return
    if (typeof drain === 'function') drain()
    else for (const listener of drain) listener()
  }

  /**
   * A write that failed as it was made: reported after the caller's turn (as node:net does),
   * never from inside the session's flush.
   */
  private failLater(status: number): void {
    queueMicrotask(() => this.failed(status, 'write'))
  }

  /**
   * @internal The connection failed or the peer closed it (`status` a libuv error, `EOF` for
   * a clean close): reports it once to the session, and lets go of the handle.
   */
  failed(status: number, syscall: string): void {
    const owner = this.owner
    this.owner = undefined
    if (owner !== undefined) {
      const code = errorName(status)
      if (PEER_GONE.has(code)) owner.transportClosed('client')
      else owner.transportClosed('error', systemError(status, syscall))
    }
    this.close()
  }

  end(done?: () => void): void {
    this.owner = undefined
    const handle = this.handle
    if (handle === undefined) {
      done?.()
      return
    }
    this.ended = done
    const ShutdownWrap = (bindings as Bindings).wrap.ShutdownWrap
    const req = new ShutdownWrap()
    req.handle = handle
    req.oncomplete = afterShutdown
    req.callback = noop
    req.sink = this
    // After the writes queued before it: the FIN goes out once the peer took every byte.
    const error = handle.shutdown(req)
    if (error !== 0) {
      req.sink = undefined
      this.close()
    }
  }

  destroy(): void {
    this.owner = undefined
    this.close()
  }

  /** @internal Closes the handle (pending writes are cancelled); `end`'s callback runs after. */
  close(): void {
    const handle = this.handle
    if (handle === undefined) return
    this.handle = undefined
    this.drain = undefined
    handle.onread = noop
    const ended = this.ended
    this.ended = undefined
    handle.close(ended)
  }
}

function request(handle: TcpHandle): WriteRequest {
  const WriteWrap = (bindings as Bindings).wrap.WriteWrap
  const req = new WriteWrap()
  req.handle = handle
  req.oncomplete = afterWrite
  req.async = false
  req.bytes = 0
  req.buffer = null
  req.callback = noop
  req.sink = undefined
  req.done = undefined
  return req
}

/**
 * @internal Takes `socket`'s TCP handle for a stream whose response head is about to be
 * written: the handle is read and written here from now on, and the `Socket` is let go of
 * (its listeners removed, then destroyed without closing the connection, which also takes it
 * off its server's connection count). `undefined`, with the socket untouched, where that
 * cannot be done safely: no usable bindings, not a TCP handle, bytes still queued on it, or a
 * connection no longer open both ways.
 */
export function takeHandle(socket: SocketInternals): HandleSink | undefined {
  if (bindings === undefined) bindings = loadBindings()
  if (bindings === null) return undefined
  const handle = socket._handle
  // Only a connection open both ways: one whose peer already sent its FIN (the Socket read the
  // EOF, which the handle will not report again) or that is already ending stays a Socket,
  // whose own machinery closes it as before.
  if (
    socket.destroyed ||
    !socket.readable ||
    !socket.writable ||
    socket.writableLength !== 0 ||
    !isTcpHandle(handle)
  ) {
    return undefined
  }
  const state = bindings
  if (state.owner === undefined) {
    state.owner = Object.getOwnPropertySymbols(handle).find(
      (symbol) => symbol.description === 'owner_symbol',
    )
    if (state.owner === undefined) {
      bindings = null
      return undefined
    }
  }
  const sink = new HandleSink(handle, socket.server)
  socket.removeAllListeners()
  socket._handle = null
  socket.destroy()
  const owned = handle as unknown as Record<symbol, unknown>
  owned[state.owner] = sink
  handle.onread = onRead
  handle.reading = true
  handle.readStart()
  return sink
}

Object.defineProperty(HandleSink.prototype, 'reportsWrites', { value: true })
