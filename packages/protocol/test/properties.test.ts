/**
 * Property tests: round trips, chunking invariance, and a differential test against
 * eventsource-parser on random valid streams.
 */
import { createParser as createPeerParser } from 'eventsource-parser'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createParser, encodeComment, encodeEvent, type ServerSentEvent } from '../src/index.js'

const utf8 = new TextEncoder()

/** Characters that stress the format: line ends, NUL, colon, space, BOM, multibyte, astral. */
const tricky = fc.constantFrom(
  '\r',
  '\n',
  '\r\n',
  '\0',
  ':',
  ' ',
  '\uFEFF',
  'é',
  '日',
  '🎉',
  'a',
  'Z',
  '9',
)
/** Any Unicode scalar value (no lone surrogates: they cannot be UTF-8 encoded). */
const scalar = fc
  .integer({ min: 0, max: 0x10ffff - 0x800 })
  .map((n) => String.fromCodePoint(n >= 0xd800 ? n + 0x800 : n))
const anyText = fc.string({ unit: fc.oneof(tricky, scalar), maxLength: 40 })
const fieldText = (forbidden: RegExp) => anyText.map((s) => s.replace(forbidden, ''))

const eventInit = fc.record(
  {
    data: anyText,
    event: fieldText(/[\r\n]/g),
    id: fieldText(/[\r\n\0]/g),
    retry: fc.nat({ max: 2 ** 31 }),
  },
  { requiredKeys: ['data'] },
)

interface Parsed {
  events: ServerSentEvent[]
  retries: number[]
  comments: string[]
  lastEventId: string
}

function parseChunks(chunks: Iterable<Uint8Array | string>): Parsed {
  const out: Parsed = { events: [], retries: [], comments: [], lastEventId: '' }
  const parser = createParser({
    onEvent: (e) => out.events.push(e),
    onRetry: (ms) => out.retries.push(ms),
    onComment: (text) => out.comments.push(text),
  })
  for (const chunk of chunks) parser.feed(chunk)
  out.lastEventId = parser.lastEventId
  parser.end()
  return out
}

/** Splits bytes at the given (sorted, deduplicated) cut points. */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const cuts = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Uint8Array[] = []
  let start = 0
  for (const point of cuts) {
    chunks.push(bytes.subarray(start, point))
    start = point
  }
  chunks.push(bytes.subarray(start))
  return chunks
}

describe('encode/parse round trip', () => {
  it('parse(encode(e)) yields e, with data line ends read back as LF', () => {
    fc.assert(
      fc.property(fc.array(eventInit, { maxLength: 8 }), (inits) => {
        const stream = inits.map(encodeEvent).join('')
        const parsed = parseChunks([utf8.encode(stream)])
        let lastId = ''
        const expected = inits.map((init) => {
          if (init.id !== undefined) lastId = init.id
          return {
            type: init.event === undefined || init.event === '' ? 'message' : init.event,
            data: init.data.replace(/\r\n|\r/g, '\n'),
            lastEventId: lastId,
          }
        })
        // A leading BOM in the first event's type would be stripped as the stream's BOM:
        // encodeEvent never starts a frame with one (it starts with a field name).
        expect(parsed.events).toEqual(expected)
        expect(parsed.retries).toEqual(
          inits.flatMap((i) => (i.retry === undefined ? [] : [i.retry])),
        )
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 500) },
    )
  })

  it('comments round trip line by line and never dispatch', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const parsed = parseChunks([encodeComment(text)])
        expect(parsed.events).toEqual([])
        expect(parsed.comments).toEqual(text.split(/\r\n|\r|\n/))
      }),
    )
  })
})

/** Arbitrary raw streams, valid or not: random lines with random terminators. */
const rawLine = fc.oneof(
  anyText,
  fc
    .tuple(fc.constantFrom('data', 'event', 'id', 'retry', '', 'Data', 'x'), anyText)
    .map(([field, value]) => `${field}:${value}`),
  fc.constantFrom('', 'data', 'retry: 12', 'id', ':comment', '\uFEFF'),
)
const rawStream = fc
  .array(fc.tuple(rawLine, fc.constantFrom('\n', '\r', '\r\n')), { maxLength: 30 })
  .map((lines) => lines.map(([line, eol]) => line.replace(/[\r\n]/g, '') + eol).join(''))

describe('chunking invariance', () => {
  it('gives the same result for every chunking of the same bytes', () => {
    fc.assert(
      fc.property(rawStream, fc.array(fc.nat(), { maxLength: 12 }), (stream, points) => {
        const bytes = utf8.encode(stream)
        expect(parseChunks(cut(bytes, points))).toEqual(parseChunks([bytes]))
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 1000) },
    )
  })

  it('gives the same result fed one byte at a time, including invalid UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), rawStream, (noise, stream) => {
        const bytes = new Uint8Array([...utf8.encode(stream), ...noise, 10, 10])
        const oneByOne = Array.from(bytes, (b) => new Uint8Array([b]))
        expect(parseChunks(oneByOne)).toEqual(parseChunks([bytes]))
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    )
  })

  it('gives the same result for strings split anywhere', () => {
    fc.assert(
      fc.property(rawStream, fc.array(fc.nat(), { maxLength: 8 }), (stream, points) => {
        const cuts = [...new Set(points.map((p) => p % (stream.length + 1)))].sort((a, b) => a - b)
        const pieces: string[] = []
        let start = 0
        for (const point of cuts) {
          pieces.push(stream.slice(start, point))
          start = point
        }
        pieces.push(stream.slice(start))
        expect(parseChunks(pieces)).toEqual(parseChunks([stream]))
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 500) },
    )
  })
})

/** Valid streams: well-formed fields, no BOM, no NUL in ids, every block closed. */
const validValue = fc
  .string({
    unit: fc.oneof(fc.constantFrom(' ', ':', 'é', '日', '🎉', '{', '"'), scalar),
    maxLength: 20,
  })
  .map((s) => s.replace(/[\r\n\0\uFEFF]/g, ''))
const validLine = fc.oneof(
  { weight: 4, arbitrary: validValue.map((v) => `data: ${v}`) },
  { weight: 1, arbitrary: validValue.map((v) => `data:${v}`) },
  { weight: 1, arbitrary: fc.constant('data') },
  { weight: 1, arbitrary: validValue.map((v) => `event: ${v}`) },
  { weight: 1, arbitrary: validValue.map((v) => `id: ${v}`) },
  { weight: 1, arbitrary: fc.nat({ max: 100000 }).map((n) => `retry: ${n}`) },
  { weight: 1, arbitrary: validValue.map((v) => `:${v}`) },
)
const validBlock = fc.array(validLine, { minLength: 1, maxLength: 5 })
const validStream = fc
  .tuple(fc.array(validBlock, { maxLength: 10 }), fc.constantFrom('\n', '\r\n', '\r'))
  .map(([blocks, eol]) => blocks.map((lines) => lines.join(eol) + eol + eol).join(''))

describe('differential: eventsource-parser', () => {
  it('agrees with eventsource-parser on random valid streams', () => {
    fc.assert(
      fc.property(validStream, fc.array(fc.nat(), { maxLength: 6 }), (stream, points) => {
        // eventsource-parser holds back a CR at the very end of its input (it might start a
        // CRLF) and so never ends a CR-terminated stream; a final LF settles it for both.
        const input = `${stream}\n`
        const ours = parseChunks(cut(utf8.encode(input), points))
        const theirs: { type: string; data: string; id: string | undefined }[] = []
        const retries: number[] = []
        const comments: string[] = []
        const peer = createPeerParser({
          onEvent: (e) => theirs.push({ type: e.event ?? 'message', data: e.data, id: e.id }),
          onRetry: (ms) => retries.push(ms),
          onComment: (text) => comments.push(text),
        })
        peer.feed(input)
        expect(ours.events.map((e) => ({ type: e.type, data: e.data }))).toEqual(
          theirs.map((e) => ({ type: e.type, data: e.data })),
        )
        // eventsource-parser reports only the id set within the block; where it has one, the
        // WHATWG last event ID must equal it.
        ours.events.forEach((event, i) => {
          const id = theirs[i]?.id
          if (id !== undefined) expect(event.lastEventId).toBe(id)
        })
        expect(ours.retries).toEqual(retries)
        expect(ours.comments).toEqual(comments)
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 1000) },
    )
  })
})
