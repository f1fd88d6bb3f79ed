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

interface BufferLike {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): Uint8Array
}
// On Node, a frame's bytes are a Buffer view (no copy): sockets take Buffers as they are,
// while a plain Uint8Array gets a fresh Buffer wrapper on every write, once per subscriber.
// Detected, not imported, so this file stays runtime-neutral.
const NodeBuffer = (globalThis as { Buffer?: BufferLike }).Buffer

/** @internal The same bytes, as a Node Buffer view where Buffers exist. */
export function shared(bytes: Uint8Array): Uint8Array {
  return NodeBuffer === undefined
    ? bytes
    : NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Encodes an event once, to be sent to many sessions with `sendFrame`.
 *
 * @throws {HeraldError} as `encodeEvent` from `@herald/protocol` for an unsafe event.
 */
export function createFrame(event: EventInit): Frame {
  return { bytes: shared(encodeEventBytes(event)) }
}

/** A comment frame (`: text`), ignored by clients. Line breaks start new comment lines. */
export function createCommentFrame(text = ''): Frame {
  return { bytes: shared(toBytes(encodeComment(text))) }
}

/**
 * A lone `retry:` frame telling clients how long to wait before reconnecting.
 *
 * @throws {HeraldError} `HERALD_INVALID_RETRY` unless `ms` is a non-negative integer.
 */
export function createRetryFrame(ms: number): Frame {
  return { bytes: shared(toBytes(encodeRetry(ms))) }
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
  return { bytes: shared(bytes) }
}
