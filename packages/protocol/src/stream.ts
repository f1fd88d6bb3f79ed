/**
 * The parser as a WHATWG TransformStream: response body bytes in, events out.
 */
import { createParser, type ParserOptions } from './parse.js'
import type { ServerSentEvent } from './types.js'

/** Options for {@link createParserStream}: the parser's options without `onEvent`. */
export type ParserStreamOptions = Omit<ParserOptions, 'onEvent'>

/**
 * Creates a `TransformStream` that turns an event-stream body (bytes or strings) into
 * {@link ServerSentEvent}s.
 *
 * @example
 * ```ts
 * const events = response.body.pipeThrough(createParserStream())
 * for await (const event of events) console.log(event.data)
 * ```
 */
export function createParserStream(
  options: ParserStreamOptions = {},
): TransformStream<Uint8Array | string, ServerSentEvent> {
  let parser: ReturnType<typeof createParser> | undefined
  return new TransformStream<Uint8Array | string, ServerSentEvent>({
    start(controller) {
      parser = createParser({ ...options, onEvent: (event) => controller.enqueue(event) })
    },
    transform(chunk) {
      parser?.feed(chunk)
    },
    flush() {
      parser?.end()
    },
  })
}
