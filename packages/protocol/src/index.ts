export {
  assertValidEventId,
  assertValidEventType,
  assertValidRetry,
  encodeComment,
  encodeEvent,
  encodeEventBytes,
  encodeRetry,
  toBytes,
} from './encode.js'
export type { HeraldErrorCode, HeraldErrorOptions } from './errors.js'
export { HeraldError, heraldErrorCodes, isHeraldError } from './errors.js'
export type { EventStreamParser, ParserOptions } from './parse.js'
export { createParser, DEFAULT_MAX_EVENT_BYTES } from './parse.js'
export type { ParserStreamOptions } from './stream.js'
export { createParserStream } from './stream.js'
export type { EventInit, ServerSentEvent } from './types.js'
