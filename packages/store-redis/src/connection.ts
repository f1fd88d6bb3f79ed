/**
 * One Redis connection with the behaviour a hub needs during an outage: it reconnects on its
 * own with exponential backoff and jitter, never queues commands while it is down, and every
 * command has a deadline, so a publish answers `HERALD_STORE_UNAVAILABLE` instead of hanging.
 */
import { createHash } from 'node:crypto'
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import { HeraldError } from '@herald/protocol'
import { createClient, RESP_TYPES } from '@redis/client'

/** Options of {@link createRedisConnection}. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string
  /** Deadline of one command (and of waiting for a reconnect), in ms. */
  commandTimeoutMs: number
  /** Longest pause between reconnection attempts, in ms. */
  maxBackoffMs: number
  /** Connection errors (each attempt), for logs. */
  onError?: ((error: Error) => void) | undefined
  /**
   * TLS options for a `rediss://` URL (`ca`, and `cert` + `key` when Redis asks for client
   * certificates); without them Node's trusted CAs apply (`NODE_EXTRA_CA_CERTS` adds one).
   */
  tls?: TlsOptions | undefined
}

/** A command argument: strings go as UTF-8, buffers as they are. */
export type RedisArg = string | Buffer

/** A Redis connection that fails fast while it is down. */
export interface RedisConnection {
  /** `true` while connected and ready. */
  readonly ready: boolean
  /**
   * Sends one command. While disconnected it waits for the reconnect, up to the deadline.
   *
   * @throws {HeraldError} `HERALD_STORE_UNAVAILABLE` (503) when Redis is down, slow past the
   * deadline, or answers an error.
   */
  command<T>(args: readonly RedisArg[], timeoutMs?: number, buffers?: boolean): Promise<T>
  /** Runs a Lua script by its SHA1, loading it on `NOSCRIPT` (a restarted Redis forgets them). */
  script<T>(source: string, args: readonly RedisArg[], timeoutMs?: number): Promise<T>
  /** Subscribes to `channel` on a second connection; `onReady` runs after every (re)connect. */
  subscribe(
    channel: string,
    onMessage: (message: string) => void,
    onReady: () => void,
  ): Promise<void>
  /** Closes both connections. */
  close(): Promise<void>
}

/** Reconnect delay: exponential from 50 ms, capped, with full jitter (no thundering herd). */
export function backoffMs(retries: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, 50 * 2 ** Math.min(retries, 16))
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
}

/** The message of an unavailable store, without credentials from the URL. */
function unavailable(what: string, cause?: unknown): HeraldError {
  return new HeraldError('HERALD_STORE_UNAVAILABLE', `Redis ${what}`, { status: 503, cause })
}

/** Removes the password from a Redis URL, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return 'redis://(invalid url)'
  }
}

/**
 * `setImmediate` as a synchronous call: runs `fn` now and returns no handle (a caller that
 * keeps the handle to know whether a run is pending then sees none).
 */
const immediately = ((fn: () => void) => {
  fn()
  return undefined
}) as unknown as typeof setImmediate

/** Opens a {@link RedisConnection}; it connects in the background and keeps reconnecting. */
export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  const where = redactUrl(options.url)
  const make = () =>
    createClient({
      url: options.url,
      RESP: 2,
      disableOfflineQueue: true,
      pingInterval: 5000,
      socket: {
        connectTimeout: options.commandTimeoutMs,
        reconnectStrategy: (retries: number) => backoffMs(retries, options.maxBackoffMs),
        ...(options.url.startsWith('rediss:') ? { tls: true as const, ...options.tls } : {}),
      },
    })
  const client = make()
  let subscriber: ReturnType<typeof make> | undefined
  let closed = false
  let waiters: (() => void)[] = []
  client.on('error', (error: Error) => options.onError?.(error))
  client.on('ready', () => {
    const list = waiters
    waiters = []
    for (const resolve of list) resolve()
  })
  // connect() retries by itself through reconnectStrategy; its first failure is only logged.
  client.connect().catch((error: unknown) => options.onError?.(error as Error))

  function waitReady(ms: number): Promise<boolean> {
    if (client.isReady) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== done)
        resolve(false)
      }, ms)
      waiters.push(done)
    })
  }

  // With `buffers`, bulk strings come back as Buffers (blobs), not UTF-8-decoded strings.
  const binary = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } }

  /**
   * Sends a command, written to the socket at once. @redis/client writes its queue from a
   * `setImmediate`; the event store sends its append calls from one too (the end of an
   * event-loop turn of publishes), and an immediate queued by an immediate runs a whole turn
   * later: each append call waited for its write while the next turn's requests were read and
   * parsed (5-22% more publishes/s with the write made at once, three pairs under load). So the
   * client is called with `setImmediate` standing in as a synchronous call, for the duration
   * of that one synchronous call: its scheduled write runs then, exactly as it would have run
   * later (it returns early when the socket is not ready or paused, as it would have).
   */
  function sendNow(args: RedisArg[], buffers: boolean): Promise<unknown> {
    const later = globalThis.setImmediate
    globalThis.setImmediate = immediately
    try {
      return client.sendCommand(args, buffers ? binary : undefined)
    } finally {
      globalThis.setImmediate = later
    }
  }
  async function command<T>(
    args: readonly RedisArg[],
    timeoutMs = options.commandTimeoutMs,
    buffers = false,
  ) {
    if (closed)
      throw new HeraldError('HERALD_STORE_CLOSED', 'the event store is closed', { status: 503 })
    const started = Date.now()
    if (!client.isReady && !(await waitReady(timeoutMs))) {
      throw unavailable(`at ${where} is unreachable (reconnecting)`)
    }
    const left = Math.max(1, timeoutMs - (Date.now() - started))
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailable(`at ${where} did not answer within ${timeoutMs} ms`)),
        left,
      )
    })
    try {
      return (await Promise.race([sendNow(args as RedisArg[], buffers), deadline])) as T
    } catch (error) {
      if (error instanceof HeraldError) throw error
      const message = (error as Error).message ?? String(error)
      if (message.startsWith('NOSCRIPT')) throw error
      throw unavailable(`command failed: ${message}`, error)
    } finally {
      clearTimeout(timer)
    }
  }

  const shas = new Map<string, string>()
  async function script<T>(source: string, args: readonly RedisArg[], timeoutMs?: number) {
    let sha = shas.get(source)
    if (sha === undefined) {
      sha = createHash('sha1').update(source).digest('hex')
      shas.set(source, sha)
    }
    try {
      return await command<T>(['EVALSHA', sha, '0', ...args], timeoutMs)
    } catch (error) {
      if (!((error as Error).message ?? '').startsWith('NOSCRIPT')) throw error
      return command<T>(['EVAL', source, '0', ...args], timeoutMs)
    }
  }

  return {
    get ready() {
      return client.isReady
    },
    command,
    script,
    async subscribe(channel, onMessage, onReady) {
      if (subscriber === undefined) {
        subscriber = client.duplicate()
        subscriber.on('error', (error: Error) => options.onError?.(error))
        const sub = subscriber
        // Resubscription after a reconnect is automatic; a wakeup covers what was missed.
        sub.on('ready', onReady)
        await sub.connect()
        await sub.subscribe(channel, onMessage)
      }
    },
    async close() {
      closed = true
      for (const resolve of waiters) resolve()
      waiters = []
      for (const c of [client, subscriber]) {
        if (c === undefined) continue
        try {
          if (c.isReady) await c.close()
          else c.destroy()
        } catch {
          c.destroy()
        }
      }
    },
  }
}
