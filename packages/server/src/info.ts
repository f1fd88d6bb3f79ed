/**
 * Session info whose URL is parsed only when someone reads it: most sessions never need it
 * after admission, and a URL object per idle connection adds up.
 */
import { parseRequestHead } from './request-head.js'
import type { RequestHeaders, SessionInfo } from './types.js'

/** @internal */
export class LazySessionInfo implements SessionInfo {
  readonly ip: string
  readonly headers: RequestHeaders
  readonly httpVersion: '1.1' | '2'
  private readonly secure: boolean
  private readonly host: string | undefined
  /** The request target as sent (`/events?topic=a`). */
  readonly target: string
  private parsed: URL | undefined = undefined

  constructor(
    ip: string,
    headers: RequestHeaders,
    httpVersion: '1.1' | '2',
    secure: boolean,
    host: string | undefined,
    path: string,
  ) {
    this.ip = ip
    this.headers = headers
    this.httpVersion = httpVersion
    this.secure = secure
    this.host = host
    this.target = path
  }

  get url(): URL {
    if (this.parsed === undefined) {
      const scheme = this.secure ? 'https' : 'http'
      try {
        this.parsed = new URL(this.target, `${scheme}://${this.host ?? 'localhost'}`)
      } catch {
        // A Host header that is not a host: keep the path, name no host.
        this.parsed = new URL(this.target, `${scheme}://localhost`)
      }
    }
    return this.parsed
  }
}

/**
 * @internal An IPv4 address in dotted-quad form as an int32 (a small integer V8 keeps in the
 * object itself, where the text is a 32-byte string per session), or `undefined` for any other
 * text (IPv6, names, non-canonical forms): those are kept as they are.
 */
export function packIpv4(text: string): number | undefined {
  if (text.length < 7 || text.length > 15) return undefined
  let packed = 0
  let part = 0
  let digits = 0
  let parts = 0
  for (let i = 0; i <= text.length; i++) {
    const code = i === text.length ? 46 : text.charCodeAt(i)
    if (code === 46) {
      // '.': a part of one to three digits, at most 255.
      if (digits === 0 || part > 255 || ++parts > 4) return undefined
      packed = (packed << 8) | part
      part = 0
      digits = 0
    } else if (code >= 48 && code <= 57) {
      // No leading zeros: the text must come back exactly as it was.
      if (digits > 0 && part === 0) return undefined
      part = part * 10 + (code - 48)
      digits++
    } else {
      return undefined
    }
  }
  return parts === 4 ? packed | 0 : undefined
}

/** @internal The text of an address packed by {@link packIpv4}. */
export function unpackIpv4(packed: number): string {
  return `${packed >>> 24}.${(packed >>> 16) & 255}.${(packed >>> 8) & 255}.${packed & 255}`
}

/** What a lean stream's info builds once asked: its headers, its URL. */
interface HeadParts {
  readonly secure: boolean
  headers: RequestHeaders | undefined
  url: URL | undefined
}

/**
 * @internal Info of a lean HTTP/1.1 stream: the request head as received is all it keeps. The
 * head text stays in memory anyway while anything holds a header value (values are slices of
 * it), so keeping it instead of the parsed headers saves the headers object and its slices
 * (about 200 bytes per idle stream); headers, target and URL are read from it when asked.
 * Three fields (48 bytes): the peer address (an IPv4 one packed in an int32), the head, and
 * whether the connection is TLS until headers or URL are read, then what they made.
 */
export class HeadSessionInfo implements SessionInfo {
  private readonly address: number | string
  /** The head (request line and fields, without the final CRLFCRLF), already validated. */
  private readonly head: string
  private parts: boolean | HeadParts

  constructor(ip: string, head: string, secure: boolean) {
    this.address = packIpv4(ip) ?? ip
    this.head = head
    this.parts = secure
  }

  /** The peer address (rebuilt from its packed form for IPv4). */
  get ip(): string {
    const address = this.address
    return typeof address === 'number' ? unpackIpv4(address) : address
  }

  get httpVersion(): '1.1' {
    return '1.1'
  }

  /** The request target as sent (`/events?topic=a`). */
  get target(): string {
    const head = this.head
    const start = head.indexOf(' ') + 1
    return head.slice(start, head.indexOf(' ', start))
  }

  private made(): HeadParts {
    const parts = this.parts
    if (typeof parts !== 'boolean') return parts
    const made: HeadParts = { secure: parts, headers: undefined, url: undefined }
    this.parts = made
    return made
  }

  get headers(): RequestHeaders {
    const parts = this.made()
    // Validated when the request came in: it parses the same way again.
    parts.headers ??= (parseRequestHead(this.head)?.headers ?? {}) as RequestHeaders
    return parts.headers
  }

  get url(): URL {
    const parts = this.made()
    if (parts.url === undefined) {
      const scheme = parts.secure ? 'https' : 'http'
      const host = this.headers.host
      try {
        parts.url = new URL(
          this.target,
          `${scheme}://${typeof host === 'string' ? host : 'localhost'}`,
        )
      } catch {
        // A Host header that is not a host: keep the path, name no host.
        parts.url = new URL(this.target, `${scheme}://localhost`)
      }
    }
    return parts.url
  }
}

/** @internal Info with a URL already parsed (Fetch requests carry one). */
export function eagerSessionInfo(
  ip: string,
  headers: RequestHeaders,
  httpVersion: '1.1' | '2',
  url: URL,
): SessionInfo {
  return { ip, headers, httpVersion, url }
}

/** Query parameters that carry credentials (Mercure's `authorization`, OAuth's `access_token`). */
const SECRET_PARAMS: ReadonlySet<string> = new Set(['authorization', 'access_token'])

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase()
  } catch {
    return name.toLowerCase()
  }
}

/**
 * @internal `query` (with its `?`) for a log line: the value of every parameter that carries a
 * credential is replaced by `[redacted]`, whatever the spelling of its name (percent-encoded,
 * any case), so that a bearer token sent in the URL never reaches the logs.
 */
export function redactQuery(query: string): string {
  if (!/authorization|access_token|%/i.test(query)) return query
  const pairs = query.slice(1).split('&')
  let changed = false
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] as string
    const eq = pair.indexOf('=')
    if (eq === -1 || !SECRET_PARAMS.has(decodedName(pair.slice(0, eq)))) continue
    pairs[i] = `${pair.slice(0, eq)}=[redacted]`
    changed = true
  }
  return changed ? `?${pairs.join('&')}` : query
}

/**
 * @internal The path and query string of a session's request, for log lines (credentials in
 * the query redacted: {@link redactQuery}). For lazy info it splits the target as sent rather
 * than reading `url`, which would parse a URL and keep it on the session for its whole life
 * (the open and close lines are written for every stream).
 */
export function requestTarget(info: SessionInfo): { path: string; query: string } {
  if (info instanceof LazySessionInfo || info instanceof HeadSessionInfo) {
    const target = info.target
    const q = target.indexOf('?')
    return q === -1
      ? { path: target, query: '' }
      : { path: target.slice(0, q), query: redactQuery(target.slice(q)) }
  }
  return { path: info.url.pathname, query: redactQuery(info.url.search) }
}
