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
  private readonly path: string
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
    this.path = path
  }

  get url(): URL {
    if (this.parsed === undefined) {
      const scheme = this.secure ? 'https' : 'http'
      try {
        this.parsed = new URL(this.path, `${scheme}://${this.host ?? 'localhost'}`)
      } catch {
        // A Host header that is not a host: keep the path, name no host.
        this.parsed = new URL(this.path, `${scheme}://localhost`)
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
