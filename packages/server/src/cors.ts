/**
 * CORS for event streams: an origin allowlist (exact or wildcard subdomain), credentials, and
 * preflights that allow `Last-Event-ID` and `Authorization`.
 */
import type { CorsOptions } from './types.js'

const ALWAYS_ALLOWED_HEADERS = ['last-event-id', 'authorization', 'accept', 'cache-control']

/** A compiled CORS policy. */
export interface CorsPolicy {
  /** `Access-Control-Allow-Origin` value for `origin`, or `undefined` when not allowed. */
  allowOrigin(origin: string): string | undefined
  /** Headers for an accepted stream or a refusal, for an allowed origin. */
  responseHeaders(allowOrigin: string): Record<string, string>
  /** Headers for a successful preflight, for an allowed origin. */
  preflightHeaders(allowOrigin: string): Record<string, string>
}

interface Wildcard {
  prefix: string
  suffix: string
}

const HOST_LABELS = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/

function compileWildcard(pattern: string): Wildcard {
  const star = pattern.indexOf('://*.')
  if (star === -1 || pattern.indexOf('*', star + 4) !== -1 || pattern.indexOf('*') !== star + 3) {
    throw new TypeError(
      `cors.origins: '${pattern}' must be exact ('https://app.example.com') or a subdomain wildcard ('https://*.example.com')`,
    )
  }
  return { prefix: pattern.slice(0, star + 3), suffix: pattern.slice(star + 4) }
}

/**
 * Compiles and validates CORS options.
 *
 * @throws {TypeError} for a malformed origin, or `'*'` together with `credentials` (browsers
 * refuse that combination, and echoing any origin instead would hand every site the user's
 * cookies).
 */
export function createCorsPolicy(options: CorsOptions): CorsPolicy {
  if (options === null || typeof options !== 'object' || !Array.isArray(options.origins)) {
    throw new TypeError('cors.origins must be an array of origins')
  }
  const credentials = options.credentials === true
  const maxAge = options.maxAgeSeconds ?? 600
  if (!Number.isSafeInteger(maxAge) || maxAge < 0) {
    throw new TypeError('cors.maxAgeSeconds must be a non-negative integer')
  }
  const exact = new Set<string>()
  const wildcards: Wildcard[] = []
  let any = false
  for (const origin of options.origins) {
    if (typeof origin !== 'string' || origin === '') {
      throw new TypeError('cors.origins entries must be non-empty strings')
    }
    const lower = origin.toLowerCase().replace(/\/$/, '')
    if (lower === '*') any = true
    else if (lower.includes('*')) wildcards.push(compileWildcard(lower))
    else if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#*]+$/.test(lower)) {
      throw new TypeError(`cors.origins: '${origin}' is not an origin (scheme://host[:port])`)
    } else exact.add(lower)
  }
  if (any && credentials) {
    throw new TypeError(
      "cors: origin '*' cannot be combined with credentials; list the allowed origins instead",
    )
  }
  const allowHeaders = [...ALWAYS_ALLOWED_HEADERS]
  for (const header of options.allowHeaders ?? []) {
    const lower = header.toLowerCase()
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(lower)) {
      throw new TypeError(`cors.allowHeaders: '${header}' is not a header name`)
    }
    if (!allowHeaders.includes(lower)) allowHeaders.push(lower)
  }
  const allowHeadersValue = allowHeaders.join(', ')

  function matchesWildcard(origin: string): boolean {
    for (const { prefix, suffix } of wildcards) {
      if (origin.length <= prefix.length + suffix.length) continue
      if (!origin.startsWith(prefix) || !origin.endsWith(suffix)) continue
      // Everything between the scheme and `.example.com` must be host labels: no port, no
      // userinfo, no path smuggled in front of the allowed domain.
      if (HOST_LABELS.test(origin.slice(prefix.length, origin.length - suffix.length))) return true
    }
    return false
  }

  return {
    allowOrigin(origin) {
      const lower = origin.toLowerCase()
      if (exact.has(lower) || matchesWildcard(lower)) return origin
      return any ? '*' : undefined
    },
    responseHeaders(allowOrigin) {
      const headers: Record<string, string> = { 'access-control-allow-origin': allowOrigin }
      if (allowOrigin !== '*') headers.vary = 'Origin'
      if (credentials) headers['access-control-allow-credentials'] = 'true'
      return headers
    },
    preflightHeaders(allowOrigin) {
      const headers: Record<string, string> = {
        'access-control-allow-origin': allowOrigin,
        'access-control-allow-methods': 'GET, HEAD, OPTIONS',
        'access-control-allow-headers': allowHeadersValue,
        'access-control-max-age': String(maxAge),
      }
      if (allowOrigin !== '*') headers.vary = 'Origin'
      if (credentials) headers['access-control-allow-credentials'] = 'true'
      return headers
    },
  }
}
