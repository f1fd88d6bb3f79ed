import { describe, expect, it } from 'vitest'
import { anyMatches, createSelector } from './selector.js'

const BASE = 'https://hub.example/.well-known/mercure'
const t = (value: unknown) => createSelector('template', value, BASE)

describe('template selectors (draft-07 topic selectors)', () => {
  it('the reserved * matches every topic', () => {
    const all = t('*')
    expect(all.all).toBe(true)
    expect(all.matches('https://example.com/a/b/c')).toBe(true)
    expect(all.matches('plain')).toBe(true)
  })

  it('a string matches itself exactly (also a URI template compared as a string)', () => {
    expect(t('foo').matches('foo')).toBe(true)
    expect(t('foo').matches('Foo')).toBe(false)
    expect(t('https://example.com/{id}').matches('https://example.com/{id}')).toBe(true)
  })

  it('a simple expression matches one segment, not a path', () => {
    const books = t('https://example.com/books/{id}')
    expect(books.matches('https://example.com/books/1')).toBe(true)
    expect(books.matches('https://example.com/books/a%2Fb')).toBe(true)
    expect(books.matches('https://example.com/books/1/reviews')).toBe(false)
    expect(books.matches('https://example.com/authors/1')).toBe(false)
    expect(books.matches('https://example.com/books/ünï')).toBe(true)
  })

  it('reserved expansion {+path} crosses segments', () => {
    expect(t('https://example.com/{+path}').matches('https://example.com/a/b?c=d')).toBe(true)
  })

  it('query, path, label, matrix and fragment operators', () => {
    const q = t('https://example.com/users/foo/{?topic}')
    expect(
      q.matches('https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1'),
    ).toBe(true)
    expect(q.matches('https://example.com/users/foo/')).toBe(true)
    expect(q.matches('https://example.com/users/bar/?topic=x')).toBe(false)
    expect(q.matches('https://example.com/users/foo/?other=x')).toBe(false)
    expect(t('/files{/path*}').matches('/files/a/b/c')).toBe(true)
    expect(t('/files{/path}').matches('/files/a/b')).toBe(false)
    expect(t('/x{.ext}').matches('/x.json')).toBe(true)
    expect(t('/m{;a,b}').matches('/m;a=1;b')).toBe(true)
    expect(t('/f{#frag}').matches('/f#a/b')).toBe(true)
    expect(t('/p{?a,b}{&c}').matches('/p?a=1&b=2&c=3')).toBe(true)
    expect(t('/s/{id:3}').matches('/s/abc')).toBe(true)
    expect(t('/s/{id:3}').matches('/s/abcd')).toBe(false)
  })

  it('a malformed template is matched as a plain string', () => {
    expect(t('https://x/{').matches('https://x/{')).toBe(true)
    expect(t('https://x/{').matches('https://x/a')).toBe(false)
  })

  it('regular expression characters in literals are literal', () => {
    expect(t('a.b/{x}').matches('aXb/1')).toBe(false)
    expect(t('a.b/{x}').matches('a.b/1')).toBe(true)
  })

  it('a crafted template cannot pin the CPU (linear-time fallback)', () => {
    const evil = t(`/{+a}x{+b}x{+c}x{+d}x{+e}x{+f}x{+g}y`)
    const started = performance.now()
    expect(evil.matches(`/${'x'.repeat(1000)}`)).toBe(false)
    // Not a timing assertion: without the fallback this call does not return for hours.
    expect(performance.now() - started).toBeGreaterThanOrEqual(0)
  })
})

describe('exact selectors (match=)', () => {
  it('compare byte for byte, no resolution, no normalisation', () => {
    const e = createSelector('exact', 'https://example.com/{id}', BASE)
    expect(e.matches('https://example.com/{id}')).toBe(true)
    expect(e.matches('https://example.com/1')).toBe(false)
    expect(createSelector('exact', '/a', BASE).matches('https://hub.example/a')).toBe(false)
    expect(createSelector('exact', 'caf\u00e9', BASE).matches('cafe\u0301')).toBe(false)
  })

  it('* is the wildcard whatever the kind', () => {
    expect(createSelector('exact', '*', BASE).matches('anything')).toBe(true)
    expect(createSelector('urlpattern', '*', BASE).matches('anything')).toBe(true)
  })
})

describe('URL pattern selectors (match_urlpattern=)', () => {
  it('match absolute URLs by named group', () => {
    const p = createSelector('urlpattern', 'https://example.net/foo/:random', BASE)
    expect(p.matches('https://example.net/foo/abc')).toBe(true)
    expect(p.matches('https://example.net/foo/a/b')).toBe(false)
    expect(p.matches('https://example.net/bar/abc')).toBe(false)
  })

  it('resolve relative patterns and topics against the hub URL', () => {
    const p = createSelector(
      'urlpattern',
      '/.well-known/mercure/subscriptions/:topic/:subscriber',
      BASE,
    )
    expect(p.matches('/.well-known/mercure/subscriptions/a/b')).toBe(true)
    expect(p.matches('https://hub.example/.well-known/mercure/subscriptions/a/b')).toBe(true)
    expect(p.matches('https://other.example/.well-known/mercure/subscriptions/a/b')).toBe(false)
  })

  it('is case-sensitive except for the host', () => {
    const p = createSelector('urlpattern', 'https://Example.net/Foo/:id', BASE)
    expect(p.matches('https://example.net/Foo/1')).toBe(true)
    expect(p.matches('https://example.net/foo/1')).toBe(false)
  })

  it('a topic that is not a URL reference never matches', () => {
    const p = createSelector('urlpattern', 'https://example.net/*', BASE)
    expect(p.matches('http://[::1')).toBe(false)
  })

  it('refuses malformed patterns, regular expression groups and too many groups (400)', () => {
    expect(() => createSelector('urlpattern', 'https://example.net/(', BASE)).toThrow(
      /not a URL pattern/,
    )
    expect(() => createSelector('urlpattern', 'https://example.net/(a+)+b', BASE)).toThrow(
      /regular expression groups/,
    )
    expect(() => createSelector('urlpattern', '/:a-:b-:c-:d-:e-:f-:g', BASE)).toThrow(/at most 6/)
  })
})

describe('validation', () => {
  it('refuses empty, too long, control and format characters (HERALD_INVALID_TOPIC)', () => {
    for (const bad of [
      '',
      'a'.repeat(1025),
      'a\u0000b',
      'a\u007fb',
      'a\u0085b',
      'a\u200bb',
      'a\u202eb',
    ]) {
      expect(() => t(bad)).toThrow(
        expect.objectContaining({ code: 'HERALD_INVALID_TOPIC', status: 400 }),
      )
    }
    expect(() => t(42)).toThrow(/must be a string/)
  })

  it('anyMatches: any selector against any topic (canonical or alternate)', () => {
    const sel = [t('https://example.com/users/foo/{?topic}')]
    expect(anyMatches(sel, ['https://example.com/books/1'])).toBe(false)
    expect(
      anyMatches(sel, ['https://example.com/books/1', 'https://example.com/users/foo/?topic=1']),
    ).toBe(true)
  })
})
