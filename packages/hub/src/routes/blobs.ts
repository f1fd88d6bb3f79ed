/**
 * `GET /blobs/{id}` (and `HEAD`): the bytes of a binary publish, with the grants of its
 * event's topic, a strong `ETag` (the SHA-256), `Cache-Control: immutable`, conditional
 * requests (`If-None-Match` -> 304), one byte range per request (206, 416) and gzip/brotli for
 * compressible types.
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import type { StoredBlob } from '@herald/store'
import { canReceivePrivate, canSubscribe } from '../auth.js'
import type { HubContext } from '../context.js'
import type { HubRequest, HubResponse } from '../http-io.js'
import { errorResponse, fail } from '../http-io.js'
import type { RouteFactory } from './route.js'

/** A year: the blob behind an id never changes. */
const MAX_AGE = 31_536_000

/** Types worth compressing (text, JSON, XML, JavaScript, SVG, WebAssembly). */
const COMPRESSIBLE =
  /^(text\/|application\/(json|[\w.+-]*\+json|xml|[\w.+-]*\+xml|javascript|wasm|x-ndjson)|image\/svg\+xml)/

/** Blobs smaller than this are sent as they are (compression would save next to nothing). */
const MIN_COMPRESS_BYTES = 1024

type Encoding = 'br' | 'gzip'

/** The encoding to answer with, from `Accept-Encoding` (brotli first), or `undefined`. */
export function pickEncoding(header: string | undefined): Encoding | undefined {
  if (header === undefined) return undefined
  const accepted = new Map<string, number>()
  for (const part of header.toLowerCase().split(',')) {
    const [name = '', ...params] = part.trim().split(';')
    let q = 1
    for (const param of params) {
      const [key, value] = param.trim().split('=')
      if (key === 'q' && value !== undefined) q = Number(value)
    }
    accepted.set(name.trim(), Number.isFinite(q) ? q : 0)
  }
  const weight = (name: Encoding): number => accepted.get(name) ?? accepted.get('*') ?? 0
  if (weight('br') > 0 && weight('br') >= weight('gzip')) return 'br'
  if (weight('gzip') > 0) return 'gzip'
  return undefined
}

/**
 * The one byte range a `Range` header asks of a blob of `size` bytes: `[start, end]`
 * (inclusive), `'unsatisfiable'`, or `undefined` to answer the whole blob (no header, not
 * `bytes=`, several ranges, or a malformed one: RFC 9110 lets a server ignore those).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const match = /^bytes=\s*(\d*)-(\d*)\s*$/.exec(header)
  if (match === null) return undefined
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return [Math.max(0, size - suffix), size - 1]
  }
  const start = Number(first)
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (last !== '' && Number(last) < start) return undefined
  if (start >= size) return 'unsatisfiable'
  return [start, end]
}

/** `true` when `If-None-Match` names one of `etags` (weak comparison, as RFC 9110 says). */
function noneMatch(header: string, etags: readonly string[]): boolean {
  if (header.trim() === '*') return true
  for (const tag of header.split(',')) {
    const plain = tag.trim().replace(/^W\//, '')
    if (etags.includes(plain)) return true
  }
  return false
}

/** Compressed representations, kept for the blobs fetched most recently. */
function createEncodedCache(limit: number) {
  const cache = new Map<string, Uint8Array>()
  return (blob: StoredBlob, encoding: Encoding): Uint8Array => {
    const key = `${blob.info.id}\u0000${encoding}`
    let body = cache.get(key)
    if (body !== undefined) {
      cache.delete(key)
      cache.set(key, body)
      return body
    }
    body =
      encoding === 'br'
        ? brotliCompressSync(blob.bytes, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: 5,
              [constants.BROTLI_PARAM_SIZE_HINT]: blob.bytes.length,
            },
          })
        : gzipSync(blob.bytes, { level: 6 })
    cache.set(key, body)
    if (cache.size > limit) cache.delete(cache.keys().next().value as string)
    return body
  }
}

/** `GET /blobs/{id}`. */
export const blobRoutes: RouteFactory = (ctx: HubContext) => {
  const found = ctx.blobs
  if (found === undefined) return {}
  const service = found
  const encoded = createEncodedCache(32)

  async function serve(req: HubRequest): Promise<HubResponse> {
    const id = req.path.slice('/blobs/'.length)
    const principal = await ctx.auth.authenticate({
      header: (name) => req.header(name),
      url: req.url,
    })
    if (ctx.auth.enabled && !principal.authenticated && !ctx.auth.anonymousSubscribe) {
      throw fail('HERALD_UNAUTHORIZED', 401, 'a token is required to fetch blobs')
    }
    const blob = await service.find(id)
    if (blob === undefined) {
      throw fail('HERALD_BLOB_NOT_FOUND', 404, `no blob ${JSON.stringify(id)} in the log`)
    }
    const { info } = blob
    // The grants of the event's topic, and a private event's rule: the same answer as a
    // subscription to the topic would get.
    const allowed =
      (!principal.authenticated || canSubscribe(principal, info.topic)) &&
      (!info.private || canReceivePrivate(principal, info.topic))
    if (!allowed) {
      throw principal.authenticated
        ? fail('HERALD_FORBIDDEN', 403, `the token does not grant ${JSON.stringify(info.topic)}`)
        : fail('HERALD_UNAUTHORIZED', 401, 'a token is required to fetch this blob')
    }
    const etag = `"${info.sha256}"`
    const compressible =
      COMPRESSIBLE.test(info.contentType.toLowerCase()) && info.size >= MIN_COMPRESS_BYTES
    const headers: Record<string, string> = {
      // Private when any auth applies: a shared cache must not hand it to someone else.
      'cache-control': `${ctx.auth.enabled || info.private ? 'private' : 'public'}, max-age=${MAX_AGE}, immutable`,
      'accept-ranges': 'bytes',
      // The publisher chose the type: never let it run as a page of the hub's origin.
      'content-security-policy': "default-src 'none'; sandbox",
      'x-content-type-options': 'nosniff',
    }
    if (compressible) headers.vary = 'Accept-Encoding'
    const encoding = compressible ? pickEncoding(req.header('accept-encoding')) : undefined
    const tag = encoding === undefined ? etag : `"${info.sha256}-${encoding}"`
    const match = req.header('if-none-match')
    if (
      match !== undefined &&
      noneMatch(match, [etag, `"${info.sha256}-br"`, `"${info.sha256}-gzip"`])
    ) {
      return { status: 304, headers: { ...headers, etag: tag }, body: '' }
    }
    // If-Range with another validator: the representation changed, send it whole.
    const ifRange = req.header('if-range')
    const range =
      ifRange === undefined || ifRange === etag
        ? parseRange(req.header('range'), info.size)
        : undefined
    if (range === 'unsatisfiable') {
      return errorResponse(
        fail(
          'HERALD_RANGE_NOT_SATISFIABLE',
          416,
          `the range is outside the blob's ${info.size} bytes`,
        ),
        { 'content-range': `bytes */${info.size}` },
      )
    }
    if (range !== undefined) {
      // Ranges address the identity bytes: a ranged answer is never compressed.
      const [start, end] = range
      return {
        status: 206,
        headers: {
          ...headers,
          etag,
          'content-type': info.contentType,
          'content-range': `bytes ${start}-${end}/${info.size}`,
        },
        body: blob.bytes.subarray(start, end + 1),
      }
    }
    if (encoding !== undefined) {
      return {
        status: 200,
        headers: {
          ...headers,
          etag: tag,
          'content-type': info.contentType,
          'content-encoding': encoding,
        },
        body: encoded(blob, encoding),
      }
    }
    return {
      status: 200,
      headers: { ...headers, etag, 'content-type': info.contentType },
      body: blob.bytes,
    }
  }

  return {
    routes: [
      {
        path: '/blobs',
        prefix: true,
        listed: false,
        methods: { GET: serve },
        preflight: {
          methods: 'GET, HEAD, OPTIONS',
          headers: 'Authorization, Range, If-None-Match',
        },
      },
    ],
  }
}
