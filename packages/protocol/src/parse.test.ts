import { describe, expect, it } from 'vitest'
import { isHeraldError } from './errors.js'
import { createParser, type ParserOptions } from './parse.js'
import type { ServerSentEvent } from './types.js'

interface Collected {
  events: ServerSentEvent[]
  retries: number[]
  comments: string[]
  errors: string[]
}

function collect(options: Partial<ParserOptions> = {}): {
  parser: ReturnType<typeof createParser>
  out: Collected
} {
  const out: Collected = { events: [], retries: [], comments: [], errors: [] }
  const parser = createParser({
    onEvent: (event) => out.events.push(event),
    onRetry: (ms) => out.retries.push(ms),
    onComment: (text) => out.comments.push(text),
    onError: (error) => out.errors.push(error.code),
    ...options,
  })
  return { parser, out }
}

function parse(input: string | Uint8Array, options: Partial<ParserOptions> = {}): Collected {
  const { parser, out } = collect(options)
  parser.feed(input)
  parser.end()
  return out
}

const message = (data: string, lastEventId = '', type = 'message'): ServerSentEvent => ({
  type,
  data,
  lastEventId,
})

describe('createParser: the specification examples', () => {
  it('joins data lines with LF (stock ticker example)', () => {
    expect(parse('data: YHOO\ndata: +2\ndata: 10\n\n').events).toEqual([message('YHOO\n+2\n10')])
  })

  it('handles comments, ids, an empty id and a value keeping its second space', () => {
    const out = parse(
      ': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n',
    )
    expect(out.comments).toEqual(['test stream'])
    expect(out.events).toEqual([
      message('first event', '1'),
      message('second event', ''),
      message(' third event', ''),
    ])
  })

  it('dispatches empty and newline-only data, and drops the unterminated last block', () => {
    expect(parse('data\n\ndata\ndata\n\ndata:').events).toEqual([message(''), message('\n')])
  })

  it('treats "data:test" and "data: test" alike', () => {
    expect(parse('data:test\n\ndata: test\n\n').events).toEqual([message('test'), message('test')])
  })
})

describe('createParser: line ends', () => {
  it('accepts CR, LF and CRLF', () => {
    const out = parse('data: a\rdata: b\ndata: c\r\n\r\ndata: d\r\r')
    expect(out.events).toEqual([message('a\nb\nc'), message('d')])
  })

  it('treats a CRLF split across chunks as one line end', () => {
    const { parser, out } = collect()
    parser.feed('data: a\r')
    parser.feed('\n')
    parser.feed('\r')
    parser.feed('\n')
    expect(out.events).toEqual([message('a')])
  })

  it('treats CR CR as two line ends even across chunks', () => {
    const { parser, out } = collect()
    parser.feed('data: a\r')
    parser.feed('\rdata: b\n\n')
    expect(out.events).toEqual([message('a'), message('b')])
  })

  it('joins a line spread over many chunks', () => {
    const { parser, out } = collect()
    for (const piece of ['da', 'ta', ': hel', 'lo', ' wor', 'ld', '\n', '\n']) parser.feed(piece)
    expect(out.events).toEqual([message('hello world')])
  })
})

describe('createParser: fields', () => {
  it('compares field names case-sensitively and ignores unknown fields', () => {
    expect(parse('Data: x\nDATA: y\nfoo: bar\ndata: z\n\n').events).toEqual([message('z')])
  })

  it('reads a line without a colon as a field with an empty value', () => {
    expect(parse('event\ndata\n\n').events).toEqual([message('')])
  })

  it('removes exactly one leading space from values', () => {
    expect(parse('data:   three\n\n').events).toEqual([message('  three')])
  })

  it('uses the event field as the type, "message" when empty', () => {
    expect(parse('event: update\ndata: 1\n\nevent:\ndata: 2\n\ndata: 3\n\n').events).toEqual([
      message('1', '', 'update'),
      message('2'),
      message('3'),
    ])
  })

  it('resets the event type after each dispatch, even without data', () => {
    expect(parse('event: a\n\ndata: x\n\n').events).toEqual([message('x')])
  })

  it('keeps NUL in data and event types but ignores an id containing NUL', () => {
    expect(parse('id: 7\n\nid: 8\0\nevent: t\0\ndata: a\0b\n\n').events).toEqual([
      message('a\0b', '7', 't\0'),
    ])
  })

  it('keeps the last event ID across events until the server changes it', () => {
    expect(parse('id: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n').events).toEqual([
      message('a', '1'),
      message('b', '1'),
      message('c', ''),
    ])
  })

  it('updates lastEventId on a block without data, without dispatching', () => {
    const { parser, out } = collect()
    parser.feed('id: 42\n\n')
    expect(out.events).toEqual([])
    expect(parser.lastEventId).toBe('42')
    parser.feed('data: x\n\n')
    expect(out.events).toEqual([message('x', '42')])
  })

  it('tells whether an event had an id field of its own', () => {
    const owned: boolean[] = []
    const parser = createParser({ onEvent: (_event, hasOwnId) => owned.push(hasOwnId) })
    parser.feed(
      'id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid: x\0\ndata: d\n\nid\ndata: e\n\n',
    )
    // a: own; b: inherited; c: inherited from an id-only block; d: NUL id ignored; e: own (empty)
    expect(owned).toEqual([true, false, false, false, true])
  })

  it('starts from the lastEventId option', () => {
    expect(parse('data: x\n\n', { lastEventId: '99' }).events).toEqual([message('x', '99')])
  })

  it('accepts retry only when it is all ASCII digits', () => {
    const out = parse(
      'retry: 1000\nretry: 10a\nretry: -1\nretry: 1.5\nretry:\nretry:  5\nretry: ٣\nretry:0\n\n',
    )
    expect(out.retries).toEqual([1000, 0])
  })

  it('passes comment text without the colon and one space', () => {
    expect(parse(':a\n:  b\n:\n\n').comments).toEqual(['a', ' b', ''])
  })
})

describe('createParser: decoding', () => {
  const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

  it('replaces invalid UTF-8 with U+FFFD', () => {
    const bytes = new Uint8Array([...utf8('data: '), 0xff, 0xc3, 0x28, ...utf8('\n\n')])
    expect(parse(bytes).events).toEqual([message('\uFFFD\uFFFD(')])
  })

  it('decodes a UTF-8 sequence split across chunks', () => {
    const bytes = utf8('data: 日本🎉\n\n')
    const { parser, out } = collect()
    for (const byte of bytes) parser.feed(new Uint8Array([byte]))
    expect(out.events).toEqual([message('日本🎉')])
  })

  it('strips one leading BOM, only at the start of the stream', () => {
    const bom = [0xef, 0xbb, 0xbf]
    expect(parse(new Uint8Array([...bom, ...utf8('data: a\n\n')])).events).toEqual([message('a')])
    // A second BOM belongs to the field name, which then matches no field.
    expect(parse(new Uint8Array([...bom, ...bom, ...utf8('data: a\n\n')])).events).toEqual([])
    expect(parse('\uFEFFdata: a\n\n\uFEFFdata: b\n\n').events).toEqual([message('a')])
  })

  it('strips a BOM split across chunks', () => {
    const { parser, out } = collect()
    parser.feed(new Uint8Array([0xef]))
    parser.feed(new Uint8Array([0xbb]))
    parser.feed(new Uint8Array([0xbf, ...utf8('data: a\n\n')]))
    expect(out.events).toEqual([message('a')])
  })
})

describe('createParser: stream end and reset', () => {
  it('discards an incomplete event at end(), keeps the last event ID, and is reusable', () => {
    const { parser, out } = collect()
    parser.feed('id: 5\ndata: a\n\ndata: partial\n')
    parser.end()
    expect(out.events).toEqual([message('a', '5')])
    // A new connection: a BOM at its start is stripped again.
    parser.feed('\uFEFFdata: b\n\n')
    expect(out.events).toEqual([message('a', '5'), message('b', '5')])
  })

  it('does not carry the id of a discarded event into the next stream', () => {
    const { parser, out } = collect()
    parser.feed('id: 5\ndata: x\n\nid: 6\ndata: y\n')
    parser.end()
    parser.feed('data: z\n\n')
    expect(out.events).toEqual([message('x', '5'), message('z', '5')])
  })

  it('does not glue a truncated line of one stream to the next', () => {
    const { parser, out } = collect()
    parser.feed('data: one\n\nda')
    parser.end()
    parser.feed('ta: two\n\n')
    expect(out.events).toEqual([message('one')])
  })

  it('reset() forgets the last event ID', () => {
    const { parser, out } = collect({ lastEventId: 'start' })
    parser.feed('id: 9\n\n')
    parser.reset()
    parser.feed('data: x\n\n')
    expect(out.events).toEqual([message('x', 'start')])
  })
})

describe('createParser: protection and robustness', () => {
  it('drops an event larger than maxEventBytes, reports it, and goes on', () => {
    const out = parse(`data: ${'x'.repeat(100)}\ndata: more\n\ndata: ok\n\n`, { maxEventBytes: 50 })
    expect(out.events).toEqual([message('ok')])
    expect(out.errors).toEqual(['HERALD_EVENT_TOO_LARGE'])
  })

  it('drops an oversized line that arrives in pieces without buffering it', () => {
    const { parser, out } = collect({ maxEventBytes: 64 })
    parser.feed('data: ')
    for (let i = 0; i < 100; i++) parser.feed('y'.repeat(32))
    parser.feed('\nid: ignored\n\ndata: after\n\n')
    expect(out.events).toEqual([message('after')])
    expect(out.errors).toEqual(['HERALD_EVENT_TOO_LARGE'])
  })

  it('delivers every event of a chunk when a callback throws, then rethrows the first error', () => {
    const seen: string[] = []
    const parser = createParser({
      onEvent(event) {
        seen.push(event.data)
        if (event.data === 'a') throw new Error('consumer bug')
      },
    })
    expect(() => parser.feed('data: a\n\ndata: b\n\n')).toThrow('consumer bug')
    parser.feed('data: c\n\n')
    expect(seen).toEqual(['a', 'b', 'c'])
  })

  it('stays linear on many lines without a colon', () => {
    // Quadratic scanning would take minutes here; linear takes milliseconds.
    const out = parse(`${'x\n'.repeat(200_000)}data: end\n\n`)
    expect(out.events).toEqual([message('end')])
  })

  it('stays linear on one huge line arriving in tiny chunks', () => {
    // 2 MiB in 8-byte pieces: rescanning or copying the partial line per chunk would take
    // hours; linear handling takes well under a second.
    const { parser, out } = collect()
    const piece = new TextEncoder().encode('abcdefgh')
    parser.feed('data: ')
    for (let i = 0; i < 256 * 1024; i++) parser.feed(piece)
    parser.feed('\n\n')
    expect(out.events).toHaveLength(1)
    expect(out.events[0]?.data.length).toBe(2 * 1024 * 1024)
  })

  it('validates its options with TypeErrors', () => {
    expect(() => createParser({} as ParserOptions)).toThrow(TypeError)
    expect(() => createParser({ onEvent() {}, maxEventBytes: 0 })).toThrow(TypeError)
    const parser = createParser({ onEvent() {} })
    expect(() => parser.feed(42 as unknown as string)).toThrow(TypeError)
  })

  it('reports errors as HeraldError with status 413', () => {
    let error: unknown
    const parser = createParser({ onEvent() {}, onError: (e) => (error = e), maxEventBytes: 4 })
    parser.feed('data: 123456\n\n')
    expect(isHeraldError(error, 'HERALD_EVENT_TOO_LARGE')).toBe(true)
    expect((error as { status: number }).status).toBe(413)
  })
})
