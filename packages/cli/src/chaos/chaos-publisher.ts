/**
 * The chaos publisher: one event at a time, at up to `rate` per second, each retried until
 * the hub acknowledges it (a killed hub, a refused connection, a 5xx). The acknowledged set
 * is what the run holds the hub to: an answered publish is durable, so it must reach every
 * subscriber even if the hub is SIGKILLed right after answering.
 *
 * Retries carry an `Idempotency-Key`, so a hub that stayed up does not append twice; a hub
 * killed between appending and answering may (its idempotency cache died with it): the
 * checker reads such doubles from the log and does not count them against the hub.
 */
import http from 'node:http'
import { encodePayload, monotonicMs } from '../bench/payload.js'

/** Options of {@link startChaosPublisher}. */
export interface ChaosPublisherOptions {
  /** Where to POST, changes as nodes come and go. */
  target: () => URL
  topic: string
  rate: number
  payload: number
  /** Prefix of idempotency keys (unique per run). */
  runId: string
}

/** What happened to one sequence number. */
export interface PublishRecord {
  seq: number
  /** Monotonic ms of the first attempt. */
  firstAttemptMs: number
  /** Monotonic ms of the acknowledgement. */
  ackMs: number
  attempts: number
  id: string
}

/** A running publisher. */
export interface ChaosPublisher {
  readonly acked: readonly PublishRecord[]
  /** Failed attempts (each one retried). */
  readonly failedAttempts: number
  /** Stops after the event in flight is acknowledged (or `timeoutMs` passes). */
  stop(timeoutMs?: number): Promise<void>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function post(url: URL, body: string, key: string, agent: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        timeout: 3000,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'idempotency-key': key,
        },
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
        })
        response.on('end', () => {
          const status = response.statusCode ?? 0
          if (status < 200 || status > 299) return reject(new Error(`status ${status}`))
          try {
            const parsed = JSON.parse(text) as { id?: unknown }
            resolve(String(parsed.id ?? ''))
          } catch {
            resolve('')
          }
        })
        response.on('error', reject)
      },
    )
    request.on('timeout', () => request.destroy(new Error('timeout')))
    request.on('error', reject)
    request.end(body)
  })
}

/** Starts publishing at once. */
export function startChaosPublisher(options: ChaosPublisherOptions): ChaosPublisher {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const acked: PublishRecord[] = []
  let failedAttempts = 0
  let stopping = false
  const started = monotonicMs()
  const loop = (async () => {
    for (let seq = 1; !stopping; seq++) {
      const due = started + ((seq - 1) / options.rate) * 1000
      const wait = due - monotonicMs()
      if (wait > 0) await sleep(wait)
      if (stopping) break
      const firstAttemptMs = monotonicMs()
      const body = JSON.stringify({
        topic: options.topic,
        data: encodePayload(seq, firstAttemptMs, options.payload),
      })
      for (let attempts = 1; ; attempts++) {
        try {
          const id = await post(options.target(), body, `${options.runId}-${seq}`, agent)
          acked.push({ seq, firstAttemptMs, ackMs: monotonicMs(), attempts, id })
          break
        } catch {
          failedAttempts++
          // Give up on this event only when stopping: an unanswered publish is not expected.
          if (stopping && attempts > 3) return
          await sleep(Math.min(1000, 50 * attempts))
        }
      }
    }
  })()
  return {
    acked,
    get failedAttempts() {
      return failedAttempts
    },
    async stop(timeoutMs = 15_000) {
      stopping = true
      await Promise.race([loop, sleep(timeoutMs)])
      agent.destroy()
    },
  }
}
