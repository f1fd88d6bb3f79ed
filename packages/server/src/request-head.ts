/**
 * Parsing a plain HTTP/1.1 request head for the lean path: strict (anything off returns
 * `undefined` and the connection goes to node:http), and cheap enough to run again later on
 * the kept head text when someone asks a lean session for its headers.
 */
/** An HTTP token (RFC 9110): a field name. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Control characters other than horizontal tab are never valid in a field value. */
function hasBadValueChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true
  }
  return false
}
const REQUEST_LINE = /^(GET|HEAD|OPTIONS) (\/[!-~]*) HTTP\/1\.([01])$/
/** A request head, parsed. */
export interface ParsedHead {
  method: string
  target: string
  headers: Record<string, string>
  /** The head as received (request line and fields, without the final CRLFCRLF). */
  head: string
}

/** Parses a request head (without its final CRLFCRLF), or `undefined` when anything is off. */
export function parseRequestHead(text: string): ParsedHead | undefined {
  const lines = text.split('\r\n')
  const line = REQUEST_LINE.exec(lines[0] ?? '')
  if (line === null) return undefined
  const headers: Record<string, string> = {}
  for (let i = 1; i < lines.length; i++) {
    const field = lines[i] as string
    const colon = field.indexOf(':')
    if (colon <= 0) return undefined
    const name = field.slice(0, colon)
    if (!TOKEN.test(name)) return undefined
    const value = field.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
    if (hasBadValueChar(value)) return undefined
    const lower = name.toLowerCase()
    // A body, an upgrade or an expectation: not a stream request, let node:http deal with it.
    if (lower === 'transfer-encoding' || lower === 'upgrade' || lower === 'expect') return undefined
    if (lower === 'content-length' && value !== '0') return undefined
    const previous = headers[lower]
    if (previous !== undefined) {
      if (lower === 'host') return undefined
      headers[lower] = `${previous}, ${value}`
    } else headers[lower] = value
  }
  if (line[3] === '1' && headers.host === undefined) return undefined
  return { method: line[1] as string, target: line[2] as string, headers, head: text }
}
