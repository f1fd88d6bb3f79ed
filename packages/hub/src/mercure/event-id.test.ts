import { describe, expect, it } from 'vitest'
import { assertValidPublisherId, generateEventId } from './event-id.js'

// RFC 9562 UUID (version 4, variant 10xx) in the urn:uuid namespace (RFC 4122 section 3).
const URN_UUID_V4 = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('generateEventId', () => {
  it('is a urn:uuid IRI, unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, generateEventId))
    expect(ids.size).toBe(1000)
    for (const id of ids) expect(id).toMatch(URN_UUID_V4)
    // A valid absolute IRI: the WHATWG URL parser reads its scheme and path.
    const url = new URL([...ids][0] as string)
    expect(url.protocol).toBe('urn:')
  })
})

describe('assertValidPublisherId', () => {
  it('accepts IRIs and opaque strings', () => {
    for (const ok of ['urn:uuid:1', 'https://example.com/e/1', 'id-["a","b"]', 'é']) {
      expect(() => assertValidPublisherId(ok)).not.toThrow()
    }
  })

  it("refuses '#...', 'earliest', empty, control and format characters (400)", () => {
    for (const bad of ['#1', 'earliest', '', 'a\nb', 'a\u0085b', 'a\u200eb', 'x'.repeat(1025), 7]) {
      expect(() => assertValidPublisherId(bad)).toThrow(
        expect.objectContaining({ code: 'HERALD_INVALID_EVENT_ID', status: 400 }),
      )
    }
  })
})
