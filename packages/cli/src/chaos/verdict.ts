/**
 * The chaos checker: every subscriber against the exact published sequence. Expected: every
 * acknowledged publish, and every event the log holds (an unanswered publish may still have
 * been stored). Per subscriber: none missing, none more often than the log holds it, in
 * order.
 */

import type { PublishRecord } from './chaos-publisher.js'
import type { ChaosSubscriberRecord } from './chaos-subscriber.js'
import type { LogContents } from './read-log.js'

/** Totals and the subscribers that failed. */
export interface ChaosCheck {
  lost: number
  duplicated: number
  outOfOrder: number
  lossySubscribers: number
  /** Up to 20 failing subscribers. */
  worst: Array<{
    name: string
    received: number
    lost: number
    duplicated: number
    outOfOrder: number
    reconnects: number
    firstMissing: number | null
  }>
}

/** Checks the subscribers. */
export function checkSubscribers(
  records: readonly ChaosSubscriberRecord[],
  acked: readonly PublishRecord[],
  log: LogContents,
): ChaosCheck {
  const inLog = new Map<number, number>()
  for (const seq of log.seqs) inLog.set(seq, (inLog.get(seq) ?? 0) + 1)
  const expected = new Set<number>(acked.map((r) => r.seq))
  for (const seq of log.seqs) expected.add(seq)
  const sorted = [...expected].sort((a, b) => a - b)
  const out: ChaosCheck = { lost: 0, duplicated: 0, outOfOrder: 0, lossySubscribers: 0, worst: [] }
  for (const record of records) {
    const got = new Map<number, number>()
    let outOfOrder = 0
    let max = 0
    for (const seq of record.seqs) {
      got.set(seq, (got.get(seq) ?? 0) + 1)
      if (seq < max) outOfOrder++
      else max = seq
    }
    let lost = 0
    let firstMissing: number | null = null
    for (const seq of sorted) {
      if (got.has(seq)) continue
      lost++
      firstMissing ??= seq
    }
    let duplicated = 0
    for (const [seq, n] of got) duplicated += Math.max(0, n - Math.max(1, inLog.get(seq) ?? 1))
    out.lost += lost
    out.duplicated += duplicated
    out.outOfOrder += outOfOrder
    if (lost > 0) out.lossySubscribers++
    if ((lost > 0 || duplicated > 0 || outOfOrder > 0) && out.worst.length < 20) {
      out.worst.push({
        name: record.name,
        received: record.seqs.length,
        lost,
        duplicated,
        outOfOrder,
        reconnects: Math.max(0, record.opens - 1),
        firstMissing,
      })
    }
  }
  return out
}
