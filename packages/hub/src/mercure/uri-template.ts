/**
 * RFC 6570 URI Templates as topic selectors (Mercure draft-07, "classic"): does a topic match a
 * template? The template is parsed by `@hyperjump/uri-template` (level 4, strict); matching
 * compiles the parsed template into one anchored regular expression following the expansion
 * rules of RFC 6570 section 3.2, as the Go hub does: a simple `{id}` matches one run of
 * unreserved or percent-encoded characters (so `https://example.com/books/{id}` does not match
 * `https://example.com/books/1/reviews`), `{+path}` and `{#frag}` also allow reserved
 * characters, `{/a}` `{.a}` `{;a}` `{?a}` `{&a}` match their prefixed, separated forms. Every
 * variable may be undefined (RFC 6570 skips it), so every expression is optional.
 *
 * Written by hand because no maintained npm library matches templates strictly (the ones that
 * "de-substitute" let `{id}` swallow `/`, which would widen an authorization grant).
 */
import { parse, type TemplatePart, type TemplateVariable } from '@hyperjump/uri-template'

// IRIs (RFC 3987) may carry non-ASCII characters unencoded: they count as unreserved.
const UNRESERVED = '(?:[A-Za-z0-9\\-._~]|[^\\x00-\\x7F]|%[0-9A-Fa-f]{2})'
const RESERVED_TOO = "(?:[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|[^\\x00-\\x7F]|%[0-9A-Fa-f]{2})"

function quote(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

function valuePattern(allowed: string, variable: TemplateVariable): string {
  return variable.maxLength === undefined
    ? `${allowed}*`
    : `${allowed}{0,${Number(variable.maxLength)}}`
}

function expression(part: Exclude<TemplatePart, { type: 'literal' }>): string {
  const op = part.type
  const allowed = op === '+' || op === '#' ? RESERVED_TOO : UNRESERVED
  const first = op === '' || op === '+' ? '' : op
  const named = op === ';' || op === '?' || op === '&'
  const sep = op === '.' || op === '/' || op === ';' ? op : named ? '&' : ','
  const items = part.variables.map((variable) => {
    const value = valuePattern(allowed, variable)
    if (!named) {
      // A list is `a,b,c`; an exploded one is `a<sep>b<sep>c` (covered by the outer repeat);
      // an exploded associative array is `k=v`.
      return variable.explode ? `${value}(?:=${value})?` : `${value}(?:,${value})*`
    }
    // Named: `name=value` (`name` alone after `;` when empty); exploded: any `key=value`.
    const name = variable.explode ? `${UNRESERVED}+` : quote(variable.name)
    const list = `${value}(?:,${value})*`
    return op === ';' ? `${name}(?:=${list})?` : `${name}=${list}`
  })
  const item = items.length === 1 ? (items[0] as string) : `(?:${items.join('|')})`
  // Without explode, each variable expands at most once: at most one item per variable.
  const more = part.variables.some((v) => v.explode) ? '*' : `{0,${part.variables.length - 1}}`
  return `(?:${quote(first)}${item}(?:${quote(sep)}${item})${more})?`
}

/** A compiled URI template: `test(topic)`. */
export interface UriTemplateMatcher {
  /** `true` when `uri` is an expansion of the template. */
  test(uri: string): boolean
}

/**
 * Compiles `template` into a matcher, or returns `undefined` when it is not a URI template
 * (malformed, or without any expression: a plain string, matched exactly by the caller).
 */
export function compileUriTemplate(template: string): UriTemplateMatcher | undefined {
  let parts: TemplatePart[]
  try {
    parts = parse(template)
  } catch {
    return undefined
  }
  if (!parts.some((p) => p.type !== 'literal')) return undefined
  let source = '^'
  for (const part of parts) {
    source += part.type === 'literal' ? quote(part.value) : expression(part)
  }
  // No `u` flag: V8's linear-time engine (the fallback enabled in `selector.ts`) refuses it.
  return new RegExp(`${source}$`)
}
