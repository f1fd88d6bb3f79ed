/**
 * Reads a topic's whole log from a node (`Last-Event-ID: earliest`), until the stream has
 * been quiet for a second: the authority on what the hub stored, in order.
 */
import http from 'node:http'
import { createParser } from '@herald/protocol'
import { decodePayload } from '../bench/payload.js'

/** The log as the hub replays it. */
export interface LogContents {
  /** Sequence numbers in log order. */
  seqs: number[]
  ids: string[]
  /** The server answered with a replay (200 and events); false for one that cannot replay. */
  readable: boolean
}

/** Reads `url` (an /events URL) from the start. */
export function readLog(url: URL, quietMs = 1000, maxMs = 30_000): Promise<LogContents> {
  return new Promise((resolve) => {
    const out: LogContents = { seqs: [], ids: [], readable: false }
    let quiet: NodeJS.Timeout | undefined
    const finish = () => {
      clearTimeout(quiet)
      clearTimeout(deadline)
      request.destroy()
      resolve(out)
    }
    const deadline = setTimeout(finish, maxMs)
    const request = http.get(
      url,
      { headers: { accept: 'text/event-stream', 'last-event-id': 'earliest' } },
      (response) => {
        if (response.statusCode !== 200) return finish()
        // Re-armed by events only: heartbeats keep coming on a quiet stream.
        const parser = createParser({
          onEvent(event) {
            rearm()
            const payload = decodePayload(event.data)
            if (payload === undefined) return
            out.readable = true
            out.seqs.push(payload.seq)
            out.ids.push(event.lastEventId)
          },
        })
        function rearm() {
          clearTimeout(quiet)
          quiet = setTimeout(finish, quietMs)
        }
        rearm()
        response.on('data', (chunk: Buffer) => {
          parser.feed(chunk)
        })
        response.on('end', finish)
        response.on('error', finish)
      },
    )
    request.on('error', finish)
  })
}
