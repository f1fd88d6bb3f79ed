/**
 * The URL of a hub endpoint under a base URL that may carry a path prefix
 * (`http://host/hub` + `events` -> `http://host/hub/events`).
 */
import { UsageError } from '../command.js'

/**
 * Resolves `path` under `base`.
 *
 * @throws {UsageError} when `base` is not an http(s) URL.
 */
export function hubUrl(base: string, path: string): URL {
  let url: URL
  try {
    url = new URL(path, base.endsWith('/') ? base : `${base}/`)
  } catch {
    throw new UsageError(`--url: expected an http(s) URL, got ${JSON.stringify(base)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url: expected an http(s) URL, got ${JSON.stringify(base)}`)
  }
  return url
}
