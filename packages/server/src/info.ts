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
  private readonly base: string
  private readonly path: string
  private parsed: URL | undefined = undefined

  constructor(
    ip: string,
    headers: RequestHeaders,
    httpVersion: '1.1' | '2',
    base: string,
    path: string,
  ) {
    this.ip = ip
    this.headers = headers
    this.httpVersion = httpVersion
    this.base = base
    this.path = path
  }

  get url(): URL {
    if (this.parsed === undefined) {
      try {
        this.parsed = new URL(this.path, this.base)
      } catch {
        // A Host header that is not a host: keep the path, name no host.
        this.parsed = new URL(this.path, 'http://localhost')
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
