/**
 * The WHATWG HTML "event stream interpretation" algorithm, to the letter.
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 */
import { HeraldError } from './errors.js'
import type { ServerSentEvent } from './types.js'

const LF = 10
const SPACE = 32
const COLON = 58
const BOM = 0xfeff

/** Default for {@link ParserOptions.maxEventBytes}: 16 MiB. */
export const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024

/** Options for {@link createParser}. */
export interface ParserOptions {
  /**
   * Called for every dispatched event. `hasOwnId` tells whether the event's block had an
   * `id` field of its own (otherwise `lastEventId` was inherited from an earlier block);
   * a client that deduplicates by ID needs the difference.
   */
  onEvent(event: ServerSentEvent, hasOwnId: boolean): void
  /** Called with the new reconnection time when a valid `retry:` field arrives. */
  onRetry?(ms: number): void
  /** Called for each comment line, with the text after the colon (one leading space removed). */
  onComment?(text: string): void
  /**
   * Called when the parser drops input to protect itself (an event larger than
   * `maxEventBytes`). The parser stays usable.
   */
  onError?(error: HeraldError): void
  /** The last event ID to start from, for example the one a reconnecting client sent. */
  lastEventId?: string
  /**
   * Upper bound on what one event may buffer: its data plus any incomplete line, counted
   * in UTF-16 code units after decoding (never more than the UTF-8 byte count). Past it
   * the event is dropped up to its closing blank line and `onError` receives a
   * `HERALD_EVENT_TOO_LARGE` error. Default 16 MiB.
   */
  maxEventBytes?: number
}

/** A streaming event-stream parser. See {@link createParser}. */
export interface EventStreamParser {
  /**
   * Feeds the next chunk of the stream. Bytes are decoded as UTF-8 (invalid sequences
   * become U+FFFD); a chunk may end anywhere, even inside a CRLF or a UTF-8 sequence.
   * Do not mix bytes and strings within one stream.
   *
   * If a callback throws, parsing of the chunk still completes (later events are still
   * delivered) and the first error is rethrown when `feed` returns.
   */
  feed(chunk: Uint8Array | string): void
  /**
   * Ends the current stream: an incomplete event is discarded, as the specification
   * requires. The last event ID is kept, so the parser is ready for the next connection.
   */
  end(): void
  /** Discards all state, including the last event ID (back to the initial option). */
  reset(): void
  /**
   * The stream's "last event ID string": updated whenever an event block ends, even one
   * without data. A reconnecting client sends it as `Last-Event-ID`.
   */
  readonly lastEventId: string
}

/**
 * Creates a streaming parser for `text/event-stream` bodies.
 *
 * It implements the WHATWG "event stream interpretation" algorithm exactly, and gives the
 * same events for any chunking of the same bytes.
 *
 * @example
 * ```ts
 * const parser = createParser({ onEvent: (e) => console.log(e.type, e.data) })
 * for await (const chunk of response.body) parser.feed(chunk)
 * parser.end()
 * ```
 */
export function createParser(options: ParserOptions): EventStreamParser {
  if (options === null || typeof options !== 'object' || typeof options.onEvent !== 'function') {
    throw new TypeError('createParser: options.onEvent must be a function')
  }
  const { onEvent, onRetry, onComment, onError } = options
  const initialLastEventId = options.lastEventId ?? ''
  if (typeof initialLastEventId !== 'string') {
    throw new TypeError('createParser: options.lastEventId must be a string')
  }
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
  if (!Number.isSafeInteger(maxEventBytes) || maxEventBytes <= 0) {
    throw new TypeError('createParser: options.maxEventBytes must be a positive integer')
  }

  // Decoding the whole chunk once, then scanning the string, is far cheaper than decoding
  // each field separately: one native call per chunk instead of one per field.
  // `ignoreBOM: true` keeps the BOM in the text so that exactly one is stripped below,
  // however the input arrives (bytes or strings).
  let decoder: TextDecoder | undefined
  let atStreamStart = true

  // The incomplete last line of the previous chunks. Kept as fragments and joined once
  // when its terminator arrives: concatenating per chunk is quadratic when one huge line
  // arrives in many small chunks.
  let fragments: string[] = []
  let fragmentsLength = 0
  // The previous chunk ended with CR: an LF at the start of the next one completes a CRLF.
  let afterCR = false
  // The current line is being dropped (it outgrew maxEventBytes) until its terminator.
  let skippingLine = false
  // The current event is being dropped until the blank line that ends it.
  let skippingEvent = false

  // The specification's buffers.
  let data = ''
  let dataLines = 0
  let eventType = ''
  let lastType = ''
  let idBuffer = initialLastEventId
  // The current block has an id field of its own.
  let blockHasId = false
  let lastEventId = initialLastEventId

  // The first error a callback threw during this feed, rethrown once the chunk is parsed.
  let callbackError: { error: unknown } | undefined

  function report(error: unknown): void {
    if (callbackError === undefined) callbackError = { error }
  }

  function clearEvent(): void {
    data = ''
    dataLines = 0
    eventType = ''
    blockHasId = false
  }

  function dropEvent(size: number): void {
    clearEvent()
    skippingEvent = true
    if (onError !== undefined) {
      const error = new HeraldError(
        'HERALD_EVENT_TOO_LARGE',
        `Event exceeds maxEventBytes (${maxEventBytes}): at least ${size} buffered; dropped`,
        { status: 413 },
      )
      try {
        onError(error)
      } catch (thrown) {
        report(thrown)
      }
    }
  }

  function dispatch(): void {
    if (skippingEvent) {
      skippingEvent = false
      clearEvent()
      return
    }
    lastEventId = idBuffer
    if (dataLines === 0) {
      eventType = ''
      blockHasId = false
      return
    }
    // The specification appends LF after every data line and removes the last one at
    // dispatch; joining with LF gives the same string without the extra copy.
    const event: ServerSentEvent = {
      type: eventType === '' ? 'message' : eventType,
      data,
      lastEventId,
    }
    const hasOwnId = blockHasId
    clearEvent()
    try {
      onEvent(event, hasOwnId)
    } catch (thrown) {
      report(thrown)
    }
  }

  function appendData(value: string): void {
    if (dataLines === 0) {
      data = value
    } else {
      data = `${data}\n${value}`
    }
    dataLines++
    if (data.length > maxEventBytes) dropEvent(data.length)
  }

  function processField(field: string, value: string): void {
    // Field names are compared literally: no case folding.
    switch (field) {
      case 'data':
        appendData(value)
        break
      case 'event':
        eventType = value
        break
      case 'id':
        if (value.indexOf('\0') === -1) {
          idBuffer = value
          blockHasId = true
        }
        break
      case 'retry':
        if (onRetry !== undefined && isAsciiDigits(value)) {
          try {
            onRetry(Number.parseInt(value, 10))
          } catch (thrown) {
            report(thrown)
          }
        }
        break
      default:
        // Unknown fields are ignored.
        break
    }
  }

  /** Handles the line `text[start, end)`, without its terminator. */
  function processLine(text: string, start: number, end: number): void {
    if (start === end) {
      dispatch()
      return
    }
    if (skippingEvent) return
    const first = text.charCodeAt(start)
    // `data:` is by far the most frequent line: recognise it without slicing the name.
    if (
      first === 100 &&
      end - start >= 5 &&
      text.charCodeAt(start + 1) === 97 &&
      text.charCodeAt(start + 2) === 116 &&
      text.charCodeAt(start + 3) === 97 &&
      text.charCodeAt(start + 4) === COLON
    ) {
      const valueStart =
        text.charCodeAt(start + 5) === SPACE && start + 5 < end ? start + 6 : start + 5
      appendData(text.slice(valueStart, end))
      return
    }
    // `id:` and `event:` come next; recognising them skips the generic field path.
    if (
      first === 105 &&
      end - start >= 3 &&
      text.charCodeAt(start + 1) === 100 &&
      text.charCodeAt(start + 2) === COLON
    ) {
      const value = text.slice(
        text.charCodeAt(start + 3) === SPACE && start + 3 < end ? start + 4 : start + 3,
        end,
      )
      if (value.indexOf('\0') === -1) {
        idBuffer = value
        blockHasId = true
      }
      return
    }
    if (
      first === 101 &&
      end - start >= 6 &&
      text.charCodeAt(start + 1) === 118 &&
      text.charCodeAt(start + 2) === 101 &&
      text.charCodeAt(start + 3) === 110 &&
      text.charCodeAt(start + 4) === 116 &&
      text.charCodeAt(start + 5) === COLON
    ) {
      const valueStart =
        text.charCodeAt(start + 6) === SPACE && start + 6 < end ? start + 7 : start + 6
      // Streams repeat a handful of types: reuse the previous string instead of allocating.
      if (end - valueStart !== lastType.length || !text.startsWith(lastType, valueStart)) {
        lastType = text.slice(valueStart, end)
      }
      eventType = lastType
      return
    }
    if (first === COLON) {
      if (onComment !== undefined) {
        const textStart =
          text.charCodeAt(start + 1) === SPACE && start + 1 < end ? start + 2 : start + 1
        try {
          onComment(text.slice(textStart, end))
        } catch (thrown) {
          report(thrown)
        }
      }
      return
    }
    // Slice the line first so the colon search cannot run past its end: scanning the
    // whole chunk for every colon-free line would be quadratic on hostile input.
    const line = text.slice(start, end)
    const colon = line.indexOf(':')
    if (colon === -1) {
      processField(line, '')
      return
    }
    const valueStart = line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1
    processField(line.slice(0, colon), line.slice(valueStart))
  }

  function keepPartial(partial: string): void {
    fragments.push(partial)
    fragmentsLength += partial.length
    const buffered = fragmentsLength + data.length
    if (buffered > maxEventBytes) {
      fragments = []
      fragmentsLength = 0
      skippingLine = true
      if (!skippingEvent) dropEvent(buffered)
    }
  }

  /** Splits decoded text into lines and processes each; keeps the incomplete tail. */
  function processText(text: string): void {
    const length = text.length
    let pos = 0
    if (afterCR) {
      afterCR = false
      if (text.charCodeAt(0) === LF) pos = 1
    }

    // Finish the line left incomplete by the previous chunk (or skip it, if oversized).
    if (skippingLine || fragments.length > 0) {
      const lf = text.indexOf('\n', pos)
      const cr = text.indexOf('\r', pos)
      const end = cr !== -1 && (lf === -1 || cr < lf) ? cr : lf
      if (end === -1) {
        if (!skippingLine && pos < length) keepPartial(pos === 0 ? text : text.slice(pos))
        return
      }
      if (skippingLine) {
        skippingLine = false
      } else {
        fragments.push(text.slice(pos, end))
        const line = fragments.length === 1 ? (fragments[0] as string) : fragments.join('')
        fragments = []
        fragmentsLength = 0
        processLine(line, 0, line.length)
      }
      pos = end + 1
      if (end === cr) {
        if (pos === length) afterCR = true
        else if (text.charCodeAt(pos) === LF) pos++
      }
    }

    // Positions of the next CR and LF are cached and only searched for again once passed,
    // so a stream mixing line endings stays linear (searching both per line is quadratic
    // when one of them is rare).
    let lf = text.indexOf('\n', pos)
    let cr = text.indexOf('\r', pos)
    for (;;) {
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        processLine(text, pos, cr)
        pos = cr + 1
        if (pos === length) {
          afterCR = true
        } else if (text.charCodeAt(pos) === LF) {
          pos++
          lf = text.indexOf('\n', pos)
        }
        cr = text.indexOf('\r', pos)
      } else if (lf !== -1) {
        processLine(text, pos, lf)
        pos = lf + 1
        lf = text.indexOf('\n', pos)
      } else {
        break
      }
    }
    if (pos < length) keepPartial(pos === 0 ? text : text.slice(pos))
  }

  function feed(chunk: Uint8Array | string): void {
    if (typeof chunk === 'string') {
      feedText(chunk)
    } else if (chunk instanceof Uint8Array) {
      decoder ??= new TextDecoder('utf-8', { ignoreBOM: true })
      feedText(decoder.decode(chunk, { stream: true }))
    } else {
      throw new TypeError('EventStreamParser.feed: chunk must be a Uint8Array or a string')
    }
    if (callbackError !== undefined) {
      const { error } = callbackError
      callbackError = undefined
      throw error
    }
  }

  function feedText(decoded: string): void {
    let text = decoded
    if (text.length === 0) return
    if (atStreamStart) {
      atStreamStart = false
      // One leading U+FEFF is stripped, and only at the very start of the stream.
      if (text.charCodeAt(0) === BOM) {
        text = text.slice(1)
        if (text.length === 0) return
      }
    }
    processText(text)
  }

  function endStream(): void {
    // Bytes of a truncated UTF-8 sequence belong to the incomplete line: discarded too.
    decoder = undefined
    atStreamStart = true
    fragments = []
    fragmentsLength = 0
    afterCR = false
    skippingLine = false
    skippingEvent = false
    clearEvent()
    // An id field of the discarded event must not leak into the next stream.
    idBuffer = lastEventId
  }

  return {
    feed,
    end: endStream,
    reset() {
      endStream()
      idBuffer = initialLastEventId
      lastEventId = initialLastEventId
    },
    get lastEventId() {
      return lastEventId
    },
  }
}

function isAsciiDigits(value: string): boolean {
  if (value.length === 0) return false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}
