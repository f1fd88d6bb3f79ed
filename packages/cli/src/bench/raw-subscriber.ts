/**
 * One synthetic subscriber on a raw TCP socket: writes the HTTP/1.1 request itself, reads
 * the status line and headers, undoes chunked transfer encoding and feeds the body to
 * @herald/protocol's parser. Why not `http.get`: a benchmark process holds thousands of
 * these, and node's HTTP client costs several kilobytes and microseconds per socket that the
 * measurement would pay instead of the server.
 *
 * On a close or error it reconnects (after `reconnectDelayMs`) with `Last-Event-ID`.
 */
import net from 'node:net'
import { createParser } from '@herald/protocol'

/** What a raw subscriber reports to its owner. */
export interface RawSubscriberHooks {
  /** Response headers arrived with status 200; `ms` since the connection attempt began. */
  onOpen(ms: number, reconnect: boolean): void
  /** One event (any type). */
  onEvent(data: string, id: string): void
  /** Body bytes received. */
  onBytes(n: number): void
  /**
   * A connection attempt failed, or an open stream ended; a new attempt follows.
   * `hadOpened`: this subscriber's stream was open at least once before.
   */
  onDrop(hadOpened: boolean, reason: string): void
}

/** Where and how to connect. */
export interface RawSubscriberOptions {
  host: string
  port: number
  /** Path and query, e.g. `/events?topic=bench`. */
  path: string
  /** Source address (127.0.0.x) or undefined for the default. */
  localAddress: string | undefined
  /** Extra request header lines, already formatted (`Name: value\r\n`). */
  extraHeaders: string
  reconnectDelayMs: number
}

const CRLFCRLF = Buffer.from('\r\n\r\n')

/** A subscriber; `start()` connects, `stop()` closes for good. */
export class RawSubscriber {
  #socket: net.Socket | undefined
  #stopped = false
  #open = false
  #everOpened = false
  #lastEventId = ''
  #head: Buffer | undefined
  #chunked = false
  /** Chunked decoding: bytes of chunk data still expected, or -1 while reading a size line. */
  #remaining = -1
  #sizeLine = ''
  #skipCrlf = 0
  #parser = this.#newParser()

  constructor(
    readonly options: RawSubscriberOptions,
    readonly hooks: RawSubscriberHooks,
  ) {}

  /** Whether a stream is open now. */
  get open(): boolean {
    return this.#open
  }

  /** Had a stream open, lost it, and is trying again now. */
  get reconnecting(): boolean {
    return !this.#open && this.#everOpened && !this.#stopped
  }

  /** Opens the first connection. */
  start(): void {
    this.#connect()
  }

  /** Closes the connection and stops reconnecting. */
  stop(): void {
    this.#stopped = true
    this.#socket?.destroy()
  }

  #newParser() {
    return createParser({
      onEvent: (event) => {
        this.#lastEventId = event.lastEventId
        this.hooks.onEvent(event.data, event.lastEventId)
      },
    })
  }

  #connect(): void {
    const started = performance.now()
    const { host, port, path, localAddress, extraHeaders } = this.options
    this.#head = Buffer.alloc(0)
    this.#chunked = false
    this.#remaining = -1
    this.#sizeLine = ''
    this.#skipCrlf = 0
    this.#parser = this.#newParser()
    const resume =
      this.#lastEventId === ''
        ? ''
        : `Last-Event-ID: ${this.#lastEventId.replace(/[\r\n]/g, '')}\r\n`
    const socket = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) })
    this.#socket = socket
    socket.setNoDelay(true)
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n${resume}${extraHeaders}\r\n`,
      )
    })
    socket.on('data', (chunk: Buffer) => {
      if (this.#head !== undefined) {
        this.#head = Buffer.concat([this.#head, chunk])
        const end = this.#head.indexOf(CRLFCRLF)
        if (end < 0) {
          if (this.#head.length > 64 * 1024) socket.destroy(new Error('response headers too large'))
          return
        }
        const head = this.#head.subarray(0, end).toString('latin1')
        const rest = this.#head.subarray(end + 4)
        this.#head = undefined
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]
        if (status !== '200') {
          socket.destroy(new Error(`status ${status ?? 'unreadable'}`))
          return
        }
        this.#chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head)
        this.#open = true
        this.hooks.onOpen(performance.now() - started, this.#everOpened)
        this.#everOpened = true
        if (rest.length > 0) this.#body(rest)
        return
      }
      this.#body(chunk)
    })
    let reason = 'closed by the server'
    socket.on('error', (error) => {
      reason = error.message
    })
    socket.on('close', () => {
      this.#open = false
      if (this.#socket !== socket) return
      this.#socket = undefined
      if (this.#stopped) return
      this.hooks.onDrop(this.#everOpened, reason)
      const delay = this.options.reconnectDelayMs * (0.5 + Math.random())
      setTimeout(() => {
        if (!this.#stopped) this.#connect()
      }, delay).unref()
    })
  }

  #body(chunk: Buffer): void {
    this.hooks.onBytes(chunk.length)
    if (!this.#chunked) {
      this.#parser.feed(chunk)
      return
    }
    let at = 0
    while (at < chunk.length) {
      if (this.#skipCrlf > 0) {
        const skip = Math.min(this.#skipCrlf, chunk.length - at)
        this.#skipCrlf -= skip
        at += skip
        continue
      }
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - at)
        this.#parser.feed(chunk.subarray(at, at + take))
        this.#remaining -= take
        at += take
        if (this.#remaining === 0) {
          this.#remaining = -1
          this.#skipCrlf = 2
        }
        continue
      }
      // A size line: hex digits, optional extensions, CRLF.
      const nl = chunk.indexOf(10, at)
      if (nl < 0) {
        this.#sizeLine += chunk.toString('latin1', at)
        return
      }
      this.#sizeLine += chunk.toString('latin1', at, nl)
      at = nl + 1
      const size = Number.parseInt(this.#sizeLine, 16)
      this.#sizeLine = ''
      if (!Number.isFinite(size)) {
        this.#socket?.destroy(new Error('bad chunk size'))
        return
      }
      if (size === 0) {
        // The last chunk: the server ended the stream.
        this.#socket?.destroy()
        return
      }
      this.#remaining = size
    }
  }
}
