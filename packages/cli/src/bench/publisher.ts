/**
 * The benchmark publisher: an open loop that POSTs Herald's JSON `{ "topic", "data" }` at a
 * fixed rate, each event carrying its sequence number and send time. Open loop: a slow
 * server does not slow the schedule down (that would hide latency); when the in-flight cap is
 * reached the publisher falls behind and the report says so (`publishedPerSec`).
 */
import http from 'node:http'
import https from 'node:https'
import { createLatencyHistogram, type Histogram, recordMs } from './latency.js'
import { encodePayload, monotonicMs } from './payload.js'

/** Options of {@link createPublisher}. */
export interface PublisherOptions {
  url: URL
  topic: string
  /** Events per second. */
  rate: number
  /** Bytes of event data. */
  payload: number
  headers: Record<string, string>
  /** Requests in flight at most. Default 128. */
  maxInFlight?: number
  /** Body format: Herald's JSON (default) or the bare payload (`raw`). */
  format?: 'json' | 'raw'
}

/** A running publisher. */
export interface Publisher {
  /** Highest sequence number sent so far. */
  readonly sent: number
  /** Sequence numbers whose publish failed (not 2xx, or a network error). */
  readonly failed: ReadonlySet<number>
  /** First failure's description, if any. */
  readonly firstError: string | undefined
  /** Publish round-trip times. */
  readonly latency: Histogram
  /** Stops sending; resolves once every request in flight has been answered. */
  stop(): Promise<void>
}

/** Starts publishing at once. */
export function createPublisher(options: PublisherOptions): Publisher {
  const maxInFlight = options.maxInFlight ?? 128
  const client = options.url.protocol === 'https:' ? https : http
  const agent = new client.Agent({ keepAlive: true, maxSockets: maxInFlight })
  const latency = createLatencyHistogram()
  const failed = new Set<number>()
  let firstError: string | undefined
  let sent = 0
  let inFlight = 0
  let stopped = false
  let idle: (() => void) | undefined
  // Every publish up to `settled` has been answered; `answered` holds those above it.
  let settled = 0
  const answered = new Set<number>()
  const settle = (seq: number) => {
    answered.add(seq)
    while (answered.delete(settled + 1)) settled++
  }
  const started = monotonicMs()

  const fail = (seq: number, why: string) => {
    failed.add(seq)
    firstError ??= why
  }

  const publish = (seq: number) => {
    const at = monotonicMs()
    const data = encodePayload(seq, at, options.payload, settled)
    const body = options.format === 'raw' ? data : JSON.stringify({ topic: options.topic, data })
    inFlight++
    const request = client.request(
      options.url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': options.format === 'raw' ? 'text/plain' : 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          ...options.headers,
        },
      },
      (response) => {
        response.resume()
        response.on('end', () => {
          const status = response.statusCode ?? 0
          if (status < 200 || status > 299) fail(seq, `publish answered ${status}`)
          else recordMs(latency, monotonicMs() - at)
          done(seq)
        })
      },
    )
    request.on('error', (error) => {
      fail(seq, `publish failed: ${error.message}`)
      done(seq)
    })
    request.end(body)
  }

  const done = (seq: number) => {
    settle(seq)
    inFlight--
    if (inFlight === 0) idle?.()
  }

  const timer = setInterval(() => {
    if (stopped) return
    const due = Math.floor(((monotonicMs() - started) / 1000) * options.rate)
    while (sent < due && inFlight < maxInFlight) publish(++sent)
  }, 2)

  return {
    get sent() {
      return sent
    },
    failed,
    get firstError() {
      return firstError
    },
    latency,
    stop() {
      stopped = true
      clearInterval(timer)
      return new Promise<void>((resolve) => {
        const finish = () => {
          agent.destroy()
          resolve()
        }
        if (inFlight === 0) finish()
        else idle = finish
      })
    },
  }
}
