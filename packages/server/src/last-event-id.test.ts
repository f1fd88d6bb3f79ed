import { describe, expect, it } from 'vitest'
import { readLastEventId } from './last-event-id.js'

/** The header as node:http or Fetch hands it over: UTF-8 bytes, one character per byte. */
const asByteString = (text: string): string =>
  String.fromCharCode(...new TextEncoder().encode(text))

describe('readLastEventId', () => {
  it('decodes a UTF-8 header value (EventSource sends IDs as UTF-8)', () => {
    expect(readLastEventId(asByteString('café-日本'), '')).toBe('café-日本')
    expect(readLastEventId('plain-42', '')).toBe('plain-42')
  })

  it('falls back to the lastEventId query parameter, percent-decoded', () => {
    expect(readLastEventId(undefined, '?lastEventId=caf%C3%A9')).toBe('café')
    expect(readLastEventId('', '?lastEventId=7')).toBe('7')
    expect(readLastEventId(undefined, '')).toBeUndefined()
  })
})
