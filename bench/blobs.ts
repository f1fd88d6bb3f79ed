/**
 * Binary payloads, blob vs inline: 100 KiB payloads delivered to S subscribers of one topic on
 * a real `herald serve`, two ways side by side in alternating rounds (one run, one machine):
 *
 * - blob: `POST /publish?topic=T` with the bytes; each subscriber gets the small event and
 *   fetches `GET /blobs/{id}` (notify, then fetch);
 * - inline: `POST /publish` JSON with the bytes base64 in `data`; each subscriber decodes it.
 *
 * Per payload: latency from the publish until every subscriber holds the bytes, the bytes the
 * subscribers received (event streams plus fetches) and the hub's CPU time. A third figure is
 * what a subscriber that does NOT want the payload receives.
 *
 *   tsc -b packages/cli && tsx bench/blobs.ts   (BLOB_SUBSCRIBERS=20 BLOB_ROUNDS=8 BLOB_PER_ROUND=20)
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { createParser } from '@herald/protocol'
import { startHubProcess } from '@herald/testkit'

const SUBSCRIBERS = Number(process.env.BLOB_SUBSCRIBERS ?? 20)
const ROUNDS = Number(process.env.BLOB_ROUNDS ?? 8)
const PER_ROUND = Number(process.env.BLOB_PER_ROUND ?? 20)
const SIZE = 100 * 1024

type Mode = 'blob' | 'inline'

/** CPU time of a process, in ms (utime + stime from /proc). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}

interface Subscriber {
  /** Bytes received on the stream so far. */
  streamBytes(): number
  /** Resolves with each event's data, in order. */
  next(): Promise<string>
  close(): void
}

async function subscribe(url: string): Promise<Subscriber> {
  const controller = new AbortController()
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream' },
    signal: controller.signal,
  })
  const queue: string[] = []
  const waiters: ((data: string) => void)[] = []
  let bytes = 0
  const parser = createParser({
    onEvent(event) {
      const waiter = waiters.shift()
      if (waiter !== undefined) waiter(event.data)
      else queue.push(event.data)
    },
  })
  ;(async () => {
    const reader = response.body?.getReader()
    for (;;) {
      const chunk = await reader?.read()
      if (chunk === undefined || chunk.done) return
      bytes += chunk.value.length
      parser.feed(chunk.value)
    }
  })().catch(() => {})
  return {
    streamBytes: () => bytes,
    next: () => {
      const data = queue.shift()
      if (data !== undefined) return Promise.resolve(data)
      return new Promise((resolve) => waiters.push(resolve))
    },
    close: () => controller.abort(),
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

async function main(): Promise<void> {
  const hub = await startHubProcess({
    args: ['--publish-rate', '0', '--max-payload', String(2 * 1024 * 1024)],
  })
  const pid = hub.child.pid as number
  const results: Record<
    Mode,
    { latency: number[]; bytes: number[]; cpu: number[]; idle: number[] }
  > = {
    blob: { latency: [], bytes: [], cpu: [], idle: [] },
    inline: { latency: [], bytes: [], cpu: [], idle: [] },
  }
  const loads: number[] = []
  try {
    const payload = randomBytes(SIZE)
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which mode goes first, so drift in the machine's load hits both.
      const order: Mode[] = round % 2 === 0 ? ['blob', 'inline'] : ['inline', 'blob']
      for (const mode of order) {
        const topic = `bench/${mode}/${round}`
        const eventsUrl = `${hub.url}/events?topic=${topic}`
        const subs = await Promise.all(
          Array.from({ length: SUBSCRIBERS }, () => subscribe(eventsUrl)),
        )
        const idle = await subscribe(eventsUrl)
        let fetched = 0
        const cpuBefore = cpuMs(pid)
        const latencies: number[] = []
        for (let i = 0; i < PER_ROUND; i++) {
          const started = performance.now()
          const publish =
            mode === 'blob'
              ? fetch(`${hub.url}/publish?topic=${topic}`, {
                  method: 'POST',
                  headers: { 'content-type': 'application/octet-stream' },
                  body: new Uint8Array(payload),
                })
              : fetch(`${hub.url}/publish`, {
                  method: 'POST',
                  headers: { 'content-type': 'application/json' },
                  body: JSON.stringify({ topic, data: payload.toString('base64') }),
                })
          const delivered = subs.map(async (sub) => {
            const data = await sub.next()
            if (mode === 'inline') return Buffer.from(data, 'base64').length
            const ref = JSON.parse(data) as { blob: string }
            const response = await fetch(new URL(ref.blob, eventsUrl))
            const body = await response.arrayBuffer()
            fetched += body.byteLength
            return body.byteLength
          })
          const sizes = await Promise.all(delivered)
          await (await publish).arrayBuffer()
          await idle.next()
          latencies.push(performance.now() - started)
          if (sizes.some((size) => size !== SIZE)) throw new Error(`${mode}: wrong size`)
        }
        const cpu = cpuMs(pid) - cpuBefore
        let received = fetched
        for (const sub of subs) received += sub.streamBytes()
        results[mode].latency.push(median(latencies))
        results[mode].bytes.push(received / PER_ROUND / SUBSCRIBERS)
        results[mode].cpu.push(cpu / PER_ROUND)
        results[mode].idle.push(idle.streamBytes() / PER_ROUND)
        for (const sub of [...subs, idle]) sub.close()
      }
      loads.push(loadavg()[0] as number)
    }
  } finally {
    await hub.stop()
  }
  const row = (mode: Mode) => {
    const r = results[mode]
    return {
      mode,
      p50LatencyMs: median(r.latency).toFixed(1),
      bytesPerSubscriberPerPayload: Math.round(median(r.bytes)),
      bytesToUninterestedSubscriber: Math.round(median(r.idle)),
      hubCpuMsPerPayload: median(r.cpu).toFixed(2),
    }
  }
  const ratio = (key: 'latency' | 'cpu' | 'bytes') => {
    const per = results.blob[key].map((b, i) => b / (results.inline[key][i] as number))
    return `${median(per).toFixed(2)} (${Math.min(...per).toFixed(2)}-${Math.max(...per).toFixed(2)})`
  }
  console.table([row('blob'), row('inline')])
  console.log(
    `blob / inline, median of ${ROUNDS} rounds (range): latency ${ratio('latency')}, hub CPU ${ratio('cpu')}, bytes per subscriber ${ratio('bytes')}`,
  )
  console.log(
    `${SUBSCRIBERS} subscribers, ${PER_ROUND} payloads of ${SIZE} B per round and mode; load average per round: ${loads.map((l) => l.toFixed(1)).join(' ')}`,
  )
}

await main()
