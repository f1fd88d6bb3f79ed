/**
 * What the hub logs about publishes: one `debug` line per publish request ("who published
 * what", for debugging one publisher), and one `info` summary per interval while publishes
 * arrive (how busy the hub is, and on which topics). A line per publish at `info` would be a
 * line per request for a hub taking thousands a second: a synchronous write each, about 15%
 * of a single-event publish (docs/benchmarks.md), and a log nobody reads line by line.
 */
import type { Logger } from '@herald/server'

/** Default interval of the info summary, in ms. */
export const PUBLISH_SUMMARY_INTERVAL_MS = 10_000
/** Topics counted per interval; the rest count in `topicCount` only once this is full. */
const MAX_TRACKED_TOPICS = 1000
/** Busiest topics named in a summary. */
const SUMMARY_TOPICS = 10

/** Records publishes for the log. */
export interface PublishLog {
  /**
   * A publish request was accepted: `events` with their `ids`; `extraBytes` (a binary
   * publish's blob) count in `bytes` beside the events' data.
   */
  published(
    events: readonly { topic: string; data: string }[],
    ids: readonly string[],
    flavour: string,
    extraBytes?: number,
  ): void
  /** A publish request was refused with `code`. */
  refused(code: string): void
  /** Logs the pending summary now (the hub closes). */
  flush(): void
}

/**
 * Creates the publish log over `logger`. The summary is logged `intervalMs` after the first
 * publish of an interval (one unref'd timer per interval, none while idle): `publishes` with
 * `requests`, `events`, `bytes` (event data in UTF-8, and blobs), `refused` (by error code), `topics` (the
 * 10 busiest, with their event counts), `topicCount` and `intervalMs`.
 */
export function createPublishLog(
  logger: Logger,
  intervalMs: number = PUBLISH_SUMMARY_INTERVAL_MS,
): PublishLog {
  // pino's `isLevelEnabled`: the debug line's fields are only built when it is written.
  const levels = logger as { isLevelEnabled?: (level: string) => boolean }
  const debugOn = (): boolean => levels.isLevelEnabled?.('debug') ?? true
  let requests = 0
  let events = 0
  let bytes = 0
  let refused: Record<string, number> = {}
  let refusedAny = false
  let topics = new Map<string, number>()
  let started = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  function flush(): void {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (requests === 0 && !refusedAny) return
    const busiest = [...topics]
      .sort((a, b) => b[1] - a[1])
      .slice(0, SUMMARY_TOPICS)
      .map(([topic, count]) => ({ topic, events: count }))
    logger.info(
      {
        requests,
        events,
        bytes,
        refused,
        topics: busiest,
        topicCount: topics.size,
        intervalMs: Math.round(performance.now() - started),
      },
      'publishes',
    )
    requests = 0
    events = 0
    bytes = 0
    refused = {}
    refusedAny = false
    topics = new Map()
  }

  function open(): void {
    if (timer !== undefined) return
    started = performance.now()
    timer = setTimeout(flush, intervalMs)
    timer.unref?.()
  }

  return {
    published(list, ids, flavour, extraBytes = 0) {
      open()
      requests++
      events += list.length
      let size = extraBytes
      for (const event of list) {
        size += Buffer.byteLength(event.data)
        const count = topics.get(event.topic)
        if (count !== undefined) topics.set(event.topic, count + 1)
        else if (topics.size < MAX_TRACKED_TOPICS) topics.set(event.topic, 1)
      }
      bytes += size
      if (!debugOn()) return
      if (list.length === 1) {
        logger.debug({ topic: list[0]?.topic, bytes: size, id: ids[0], flavour }, 'published')
      } else {
        const names = [...new Set(list.map((e) => e.topic))]
        logger.debug(
          {
            topics: names.slice(0, SUMMARY_TOPICS),
            topicCount: names.length,
            events: list.length,
            bytes: size,
            firstId: ids[0],
            lastId: ids.at(-1),
            flavour,
          },
          'published',
        )
      }
    },
    refused(code) {
      open()
      refusedAny = true
      refused[code] = (refused[code] ?? 0) + 1
    },
    flush,
  }
}
