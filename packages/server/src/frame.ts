/**
 * Frames: events encoded once into bytes that any number of sessions share.
 */
import {
  type EventInit,
  encodeComment,
  encodeEventBytes,
  encodeRetry,
  toBytes,
} from '@herald/protocol'
import type { Frame } from './types.js'

/**
 * Encodes an event once, to be sent to many sessions with `sendFrame`.
 *
 * @throws {HeraldError} as `encodeEvent` from `@herald/protocol` for an unsafe event.
 */
export function createFrame(event: EventInit): Frame {
  return { bytes: encodeEventBytes(event) }
}

/** A comment frame (`: text`), ignored by clients. Line breaks start new comment lines. */
export function createCommentFrame(text = ''): Frame {
  return { bytes: toBytes(encodeComment(text)) }
}

/**
 * A lone `retry:` frame telling clients how long to wait before reconnecting.
 *
 * @throws {HeraldError} `HERALD_INVALID_RETRY` unless `ms` is a non-negative integer.
 */
export function createRetryFrame(ms: number): Frame {
  return { bytes: toBytes(encodeRetry(ms)) }
}

/** Several frames as one (one allocation), for example a replayed backlog. */
export function joinFrames(frames: readonly Frame[]): Frame {
  let total = 0
  for (const frame of frames) total += frame.bytes.byteLength
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const frame of frames) {
    bytes.set(frame.bytes, offset)
    offset += frame.bytes.byteLength
  }
  return { bytes }
}
