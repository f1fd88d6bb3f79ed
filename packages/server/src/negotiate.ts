/**
 * Content negotiation: does the client accept an event stream, and which compression (if any)
 * do both sides allow.
 */

interface Range {
  token: string
  q: number
}

function parseList(header: string): Range[] {
  const ranges: Range[] = []
  for (const part of header.split(',')) {
    const [rawToken = '', ...params] = part.split(';')
    const token = rawToken.trim().toLowerCase()
    if (token === '') continue
    let q = 1
    for (const param of params) {
      const eq = param.indexOf('=')
      if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue
      const value = Number(param.slice(eq + 1).trim())
      q = Number.isFinite(value) ? Math.min(Math.max(value, 0), 1) : 0
    }
    ranges.push({ token, q })
  }
  return ranges
}

/**
 * `true` when an `Accept` header allows `text/event-stream`: a missing or empty header, or a
 * matching range (`text/event-stream`, `text/*`, `*` + `/*`) whose most specific match has
 * q > 0. `text/event-stream;q=0` refuses even next to `*` + `/*`.
 */
export function acceptsEventStream(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true
  let best = -1
  let q = 0
  for (const range of parseList(accept)) {
    const specificity =
      range.token === 'text/event-stream'
        ? 2
        : range.token === 'text/*'
          ? 1
          : range.token === '*/*'
            ? 0
            : -1
    if (specificity > best) {
      best = specificity
      q = range.q
    } else if (specificity === best && specificity >= 0) {
      q = Math.max(q, range.q)
    }
  }
  return best >= 0 && q > 0
}

/**
 * Picks the first of `offered` (server preference order) that `Accept-Encoding` allows, or
 * `undefined` for none. Without the header nothing is picked: compression needs consent.
 */
export function pickEncoding<E extends string>(
  acceptEncoding: string | undefined,
  offered: readonly E[],
): E | undefined {
  if (acceptEncoding === undefined || acceptEncoding.trim() === '') return undefined
  const ranges = parseList(acceptEncoding)
  for (const encoding of offered) {
    let q: number | undefined
    let wildcard: number | undefined
    for (const range of ranges) {
      if (range.token === encoding) q = range.q
      else if (range.token === '*') wildcard = range.q
    }
    const effective = q ?? wildcard ?? 0
    if (effective > 0) return encoding
  }
  return undefined
}
