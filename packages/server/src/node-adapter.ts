/**
 * Node transports: `node:http` (req, res), the `node:http2` compat API (req, res), and
 * `node:http2` core-API streams.
 */
import type { ServerHttp2Stream } from 'node:http2'
import type { RequestView } from './admission.js'
import { compressSink } from './compression.js'
import { LazySessionInfo } from './info.js'
import { Http1SocketSink, NodeSink, type NodeSocketLike, type NodeWritable } from './node-sink.js'
import { peerAddress } from './peer-address.js'
import type { ServerCore } from './server.js'
import type {
  Http2StreamHeaders,
  NodeHandleInit,
  NodeRequest,
  NodeResponse,
  RequestHeaders,
  Session,
} from './types.js'

function splitUrl(raw: string | undefined): { path: string; search: string } {
  const path = raw ?? '/'
  const q = path.indexOf('?')
  return { path, search: q === -1 ? '' : path.slice(q) }
}

function headerOf(headers: RequestHeaders): (name: string) => string | string[] | undefined {
  return (name) => headers[name]
}

function openSink(writable: NodeWritable, encoding: 'br' | 'gzip' | undefined): NodeSink {
  return encoding === undefined ? new NodeSink(writable) : compressSink(writable, encoding)
}

/**
 * HTTP/1.1 connections with a stream request on them, and its response. A stream's response
 * never ends, so a request pipelined behind it can never be answered: `node:http` would still
 * run the handler (a publish stored, never acknowledged) and queue one response per such
 * request, for ever. Claimed when the request is routed as a stream, before any await
 * (authorization), so a request parsed from the same packet already sees it; released when
 * that response ends (a refused stream).
 */
const streamSockets = new WeakMap<object, NodeResponse>()

function claim(req: NodeRequest, res: NodeResponse): void {
  const socket = req.socket as object | null | undefined
  if (socket === null || socket === undefined || req.httpVersionMajor >= 2) return
  if (streamSockets.get(socket) === res) return
  streamSockets.set(socket, res)
  ;(res as unknown as { once(event: 'finish', listener: () => void): unknown }).once(
    'finish',
    () => {
      if (streamSockets.get(socket) === res) streamSockets.delete(socket)
    },
  )
}

/**
 * @internal `true` (and the connection closed, the refusal logged and counted) when `req` came
 * pipelined behind a stream request on the same HTTP/1.1 connection. With `stream`, `req` is
 * routed as a stream itself: the connection is claimed for it.
 */
export function refusePipelined(
  core: ServerCore,
  req: NodeRequest,
  stream: NodeResponse | undefined,
): boolean {
  const socket = req.socket as object | null | undefined
  if (socket === null || socket === undefined) return false
  const owner = streamSockets.get(socket)
  if (owner === undefined || owner === stream) {
    if (stream !== undefined) claim(req, stream)
    return false
  }
  const ip = peerAddress(req.socket?.remoteAddress)
  core.refused('HERALD_PIPELINED_REQUEST', ip)
  core.logger.warn(
    { code: 'HERALD_PIPELINED_REQUEST', ip, method: req.method, url: req.url?.slice(0, 200) },
    'request pipelined behind an event stream refused: connection closed',
  )
  req.socket.destroy()
  return true
}

/**
 * A refused request that announced a body it has not finished sending: answering is enough,
 * the rest is not worth reading. Without this, `node:http` reads and discards the body to
 * keep the connection alive, for as long as the client trickles it, outside every limit.
 * Returns `true` when the connection (HTTP/2: the stream) will be closed once the answer is out.
 */
function abandonBody(req: NodeRequest, res: NodeResponse): boolean {
  if (req.complete) return false
  ;(res as unknown as { once(event: 'finish', listener: () => void): unknown }).once(
    'finish',
    () => {
      if ('stream' in req) req.stream.close()
      else req.socket.destroy()
    },
  )
  return true
}

/** Handles a `node:http` or `node:http2` compat request. */
export function handleNodeRequest(
  core: ServerCore,
  req: NodeRequest,
  res: NodeResponse,
  init: NodeHandleInit | undefined,
): Session | undefined {
  if (refusePipelined(core, req, res)) return undefined
  const headers = req.headers as RequestHeaders
  const ip = init?.ip ?? peerAddress(req.socket?.remoteAddress)
  const { path, search } = splitUrl(req.url)
  const view: RequestView = { method: req.method ?? 'GET', header: headerOf(headers), search, ip }
  const decision = core.decide(view, init?.headers)
  // Both response flavours share these calls; the union of their overloads does not type-check.
  const response = res as unknown as {
    writeHead(status: number, headers: Record<string, string>): unknown
    end(body?: string): unknown
    flushHeaders?(): void
  }
  if (decision.kind === 'refuse') {
    core.refused(decision.code, ip)
    const abandon = abandonBody(req, res)
    response.writeHead(
      decision.status,
      abandon && req.httpVersionMajor < 2
        ? { ...decision.headers, connection: 'close' }
        : decision.headers,
    )
    response.end(decision.body)
    return undefined
  }
  if (decision.kind === 'preflight') {
    response.writeHead(204, decision.headers)
    response.end()
    return undefined
  }
  const http2 = req.httpVersionMajor === 2
  const responseHeaders = decision.headers
  // Connection is an HTTP/1.1 header; HTTP/2 forbids connection-specific headers.
  if (!http2) responseHeaders.connection = 'keep-alive'
  if (decision.head) {
    response.writeHead(200, responseHeaders)
    response.end()
    return undefined
  }
  try {
    const initial = core.initialFrame
    const socket = req.socket as unknown as NodeSocketLike | null
    // HTTP/1.1 without compression: a close-delimited body written straight to the socket
    // (see Http1SocketSink). The stream ends by closing the connection, which is what an
    // event stream's end means anyway.
    const direct = !http2 && decision.encoding === undefined && socket !== null
    if (direct)
      (res as unknown as { useChunkedEncodingByDefault: boolean }).useChunkedEncodingByDefault =
        false
    // Headers go out now, so the client sees `open` before the first event; on HTTP/1.1 the
    // retry hint shares their packet (one write, corked).
    if (direct) socket.cork?.()
    response.writeHead(200, responseHeaders)
    response.flushHeaders?.()
    const writable: NodeWritable = http2
      ? ((res as unknown as { stream: ServerHttp2Stream }).stream as unknown as NodeWritable)
      : (res as unknown as NodeWritable)
    const sink = direct
      ? new Http1SocketSink(writable, socket)
      : openSink(writable, decision.encoding)
    if (initial !== undefined) sink.write(initial.bytes)
    if (direct) socket.uncork?.()
    const host = headers.host ?? headers[':authority']
    const info = new LazySessionInfo(
      ip,
      headers,
      http2 ? '2' : '1.1',
      (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true,
      typeof host === 'string' ? host : undefined,
      path,
    )
    return core.open(info, decision.lastEventId, sink)
  } catch (error) {
    core.unreserve(ip)
    core.logger.warn({ ip, err: error }, 'could not open stream')
    return undefined
  }
}

/** Handles a `node:http2` core-API stream. */
export function handleHttp2Stream(
  core: ServerCore,
  stream: ServerHttp2Stream,
  headers: Http2StreamHeaders,
  init: NodeHandleInit | undefined,
): Session | undefined {
  const record = headers as RequestHeaders
  const ip = init?.ip ?? peerAddress(stream.session?.socket?.remoteAddress)
  const rawPath = headers[':path']
  const { path, search } = splitUrl(typeof rawPath === 'string' ? rawPath : undefined)
  const method = headers[':method']
  const view: RequestView = {
    method: typeof method === 'string' ? method : 'GET',
    header: headerOf(record),
    search,
    ip,
  }
  const decision = core.decide(view, init?.headers)
  if (decision.kind === 'refuse') {
    core.refused(decision.code, ip)
    stream.respond({ ':status': decision.status, ...decision.headers })
    stream.end(decision.body)
    return undefined
  }
  if (decision.kind === 'preflight') {
    stream.respond({ ':status': 204, ...decision.headers }, { endStream: true })
    return undefined
  }
  if (decision.head) {
    stream.respond({ ':status': 200, ...decision.headers }, { endStream: true })
    return undefined
  }
  try {
    stream.respond({ ':status': 200, ...decision.headers })
    const sink = openSink(stream as unknown as NodeWritable, decision.encoding)
    if (core.initialFrame !== undefined) sink.write(core.initialFrame.bytes)
    const authority = headers[':authority'] ?? headers.host
    const info = new LazySessionInfo(
      ip,
      record,
      '2',
      headers[':scheme'] === 'https',
      typeof authority === 'string' ? authority : undefined,
      path,
    )
    return core.open(info, decision.lastEventId, sink)
  } catch (error) {
    core.unreserve(ip)
    core.logger.warn({ ip, err: error }, 'could not open stream')
    return undefined
  }
}
