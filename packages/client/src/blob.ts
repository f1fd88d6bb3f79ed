/**
 * `@herald/client/blob`: fetch the bytes a binary-publish event names (notify, then fetch).
 * Its own entry point, so apps that never fetch blobs do not ship it.
 */
import { HeraldError } from '@herald/protocol'

/** The data of a binary-publish event. */
export interface BlobRef {
  /** The blob's URL, relative to the event stream's URL (`blobs/{id}`). */
  readonly blob: string
  /** The publisher's `Content-Type`. */
  readonly contentType: string
  /** Length in bytes. */
  readonly size: number
  /** SHA-256 of the bytes, hex. */
  readonly sha256: string
  /** The bytes, base64, when the hub inlines small blobs (`--blob-inline`). */
  readonly base64?: string | undefined
}

/** Options of {@link fetchBlob}. */
export interface FetchBlobOptions {
  /** The URL the event came from (the `/events?...` URL): `blob` is resolved against it. */
  base: string | URL
  /** A custom fetch (default: the global one). */
  fetch?: typeof fetch | undefined
  /** Request headers (an `Authorization` token when the hub has auth on). */
  headers?: Record<string, string> | undefined
  /** Cookies: `include` for a hub on another origin with cookie auth. Default `same-origin`. */
  credentials?: RequestCredentials | undefined
  /** Aborts the fetch. */
  signal?: AbortSignal | undefined
  /** Check the SHA-256 of the bytes (Web Crypto). Default `true`. */
  verify?: boolean | undefined
}

/** `true` when `data` (an event's parsed JSON) names a blob. */
export function isBlobRef(data: unknown): data is BlobRef {
  const d = data as Partial<BlobRef> | null
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.blob === 'string' &&
    typeof d.contentType === 'string' &&
    typeof d.size === 'number' &&
    typeof d.sha256 === 'string'
  )
}

function hex(buffer: ArrayBuffer): string {
  let out = ''
  for (const byte of new Uint8Array(buffer)) out += byte.toString(16).padStart(2, '0')
  return out
}

/**
 * Fetches the blob an event names, as a `Blob` of its `contentType`: from the inline
 * `base64` when the event carries it, else from the hub (`GET /blobs/{id}`, which the
 * browser's HTTP cache serves again without a transfer: the answer is immutable). `event` is
 * the event's data: a string of JSON, or already parsed.
 *
 * @throws {HeraldError} `HERALD_CLIENT_INVALID_JSON` when the data names no blob,
 * `HERALD_CLIENT_HTTP_STATUS` for an answer other than 200 (404: the event left the log),
 * `HERALD_CLIENT_BLOB_INTEGRITY` when the bytes do not match `size` or `sha256`.
 */
export async function fetchBlob(event: string | BlobRef, options: FetchBlobOptions): Promise<Blob> {
  let ref: unknown = event
  if (typeof event === 'string') {
    try {
      ref = JSON.parse(event)
    } catch (cause) {
      throw new HeraldError('HERALD_CLIENT_INVALID_JSON', 'the event data is not JSON', { cause })
    }
  }
  if (!isBlobRef(ref)) {
    throw new HeraldError('HERALD_CLIENT_INVALID_JSON', 'the event data names no blob')
  }
  let bytes: ArrayBuffer
  if (ref.base64 !== undefined) {
    const text = atob(ref.base64)
    const view = new Uint8Array(text.length)
    for (let i = 0; i < text.length; i++) view[i] = text.charCodeAt(i)
    bytes = view.buffer
  } else {
    const url = new URL(ref.blob, options.base)
    const response = await (options.fetch ?? fetch)(url, {
      headers: options.headers ?? {},
      credentials: options.credentials ?? 'same-origin',
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    })
    if (response.status !== 200) {
      await response.body?.cancel()
      throw new HeraldError('HERALD_CLIENT_HTTP_STATUS', `HTTP ${response.status} from ${url}`, {
        status: response.status,
      })
    }
    bytes = await response.arrayBuffer()
  }
  if (
    bytes.byteLength !== ref.size ||
    (options.verify !== false && hex(await crypto.subtle.digest('SHA-256', bytes)) !== ref.sha256)
  ) {
    throw new HeraldError(
      'HERALD_CLIENT_BLOB_INTEGRITY',
      `the bytes of ${ref.blob} do not match the event's size and sha256`,
    )
  }
  return new Blob([bytes], { type: ref.contentType })
}
