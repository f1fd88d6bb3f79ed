/**
 * The benchmark payload: `hb1:SEQ:SENT_MS:SETTLED:` then padding. SENT_MS is CLOCK_MONOTONIC in
 * milliseconds (`process.hrtime`), the same clock in every process of the machine, so a
 * subscriber process computes latency without clock sync. The marker is searched for, not
 * expected at the start, so a server that wraps the body (nchan publishes the whole JSON
 * POST body as the event data) is measured the same way.
 *
 * SETTLED is the highest sequence number whose publish, and every earlier one, had been
 * answered when this one was sent. Publishes in flight together have no order a server must
 * keep; one answered before another was sent does. So a subscriber that gets event `a` after
 * an event whose SETTLED is `>= a` saw a real reordering.
 */

const MARKER = 'hb1:'

/** Milliseconds on the machine-wide monotonic clock. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Builds the data of event `seq`, padded to `bytes` (at least the header's length). */
export function encodePayload(
  seq: number,
  sentMs: number,
  bytes: number,
  settled = seq - 1,
): string {
  const head = `${MARKER}${seq}:${sentMs.toFixed(3)}:${settled}:`
  return bytes > head.length ? head + 'x'.repeat(bytes - head.length) : head
}

/** A decoded payload. */
export interface DecodedPayload {
  seq: number
  sentMs: number
  settled: number
}

/** Finds the marker in `data`; `undefined` when it is not a benchmark event. */
export function decodePayload(data: string): DecodedPayload | undefined {
  const at = data.indexOf(MARKER)
  if (at < 0) return undefined
  const seqEnd = data.indexOf(':', at + MARKER.length)
  const timeEnd = seqEnd < 0 ? -1 : data.indexOf(':', seqEnd + 1)
  const settledEnd = timeEnd < 0 ? -1 : data.indexOf(':', timeEnd + 1)
  if (settledEnd < 0) return undefined
  const seq = Number(data.slice(at + MARKER.length, seqEnd))
  const sentMs = Number(data.slice(seqEnd + 1, timeEnd))
  const settled = Number(data.slice(timeEnd + 1, settledEnd))
  if (!Number.isSafeInteger(seq) || seq < 1 || !Number.isFinite(sentMs)) return undefined
  if (!Number.isSafeInteger(settled) || settled < 0 || settled >= seq) return undefined
  return { seq, sentMs, settled }
}
