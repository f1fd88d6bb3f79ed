/**
 * Session info whose URL is parsed only when someone reads it: most sessions never need it
 * after admission, and a URL object per idle connection adds up.
 */
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

/** @internal Info with a URL already parsed (Fetch requests carry one). */
export function eagerSessionInfo(
  ip: string,
  headers: RequestHeaders,
  httpVersion: '1.1' | '2',
  url: URL,
): SessionInfo {
  return { ip, headers, httpVersion, url }
}

/**
 * @internal The path and query string of a session's request, for log lines. For lazy info
 * it splits the target as sent rather than reading `url`, which would parse a URL and keep it
 * on the session for its whole life (the open and close lines are written for every stream).
 */
export function requestTarget(info: SessionInfo): { path: string; query: string } {
  if (info instanceof LazySessionInfo) {
    const target = info.target
    const q = target.indexOf('?')
    return q === -1
      ? { path: target, query: '' }
      : { path: target.slice(0, q), query: target.slice(q) }
  }
  return { path: info.url.pathname, query: info.url.search }
}
