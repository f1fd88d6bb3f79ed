/**
 * The lean HTTP/1.1 path: a `net` connection listener that reads the request head itself and,
 * for a stream request, serves the stream on the bare socket. `node:http` keeps a parser, an
 * IncomingMessage and a ServerResponse alive for every open stream (about 10 KiB of RSS per
 * idle connection on Node 20); here an idle stream is the socket plus Herald's session, less
 * than half of that (`npm run bench:fanout-memory`). Anything that is not a plain stream request (another path, a body,
 * pipelining, an upgrade, a malformed or oversized head) goes to the `fallback` HTTP server
 * with its bytes put back, so the app behind it sees an ordinary connection.
 */
import type { Socket } from 'node:net'
import { runHandler } from './adapters/run-handler.js'
import type { RequestView } from './admission.js'
import { type HandleSink, takeHandle } from './handle-sink.js'
import { HeadSessionInfo, redactQuery } from './info.js'
import { NodeSink, type NodeWritable } from './node-sink.js'
import { peerAddress } from './peer-address.js'
import { type ParsedHead, parseRequestHead, TOKEN } from './request-head.js'
import type { ServerCore } from './server.js'
import type {
  ConnectionHandlerOptions,
  GuardableServer,
  RequestHeaders,
  StreamRefusal,
  StreamRequest,
} from './types.js'

export { parseRequestHead }

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

let dateText = ''
let dateAt = 0
function httpDate(): string {
  const now = Date.now()
  if (now - dateAt >= 1000) {
    dateText = new Date(now).toUTCString()
    dateAt = now
  }
  return dateText
}

function headerBlock(status: number, headers: Readonly<Record<string, string>>): string {
  let text = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n`
  for (const name in headers) {
    // Names and values come from Herald or the app: a name that is not a token, or a line
    // break in a value, would let them write their own response lines.
    if (!TOKEN.test(name)) continue
    text += `${name}: ${String(headers[name]).replace(/[\r\n]/g, '')}\r\n`
  }
  return `${text}date: ${httpDate()}\r\n`
}

function answer(
  socket: Socket,
  status: number,
  headers: Readonly<Record<string, string>>,
  body: string,
  head: boolean,
): void {
  const length = Buffer.byteLength(body)
  const text = `${headerBlock(status, headers)}content-length: ${length}\r\nconnection: close\r\n\r\n`
  socket.end(head || length === 0 ? text : text + body)
}

/** Request fields that carry credentials. */
const CREDENTIAL_FIELDS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
])

/**
 * @internal `head` (a request line and its fields, CRLF-separated) without the fields that
 * carry credentials and with the query's credential parameters redacted ({@link redactQuery}):
 * a new flat string that holds no part of `head`, or `head` itself when there was nothing to
 * take out.
 */
export function withoutCredentials(head: string): string {
  const lines = head.split('\r\n')
  let changed = false
  const line0 = lines[0] as string
  const space = line0.indexOf(' ')
  const q = line0.indexOf('?')
  if (q !== -1 && space !== -1 && q > space) {
    const end = line0.indexOf(' ', q)
    const query = end === -1 ? line0.slice(q) : line0.slice(q, end)
    const redacted = redactQuery(query)
    if (redacted !== query) {
      lines[0] = line0.slice(0, q) + redacted + (end === -1 ? '' : line0.slice(end))
      changed = true
    }
  }
  let kept = 1
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string
    const colon = line.indexOf(':')
    if (colon !== -1 && CREDENTIAL_FIELDS.has(line.slice(0, colon).trim().toLowerCase())) {
      changed = true
      continue
    }
    lines[kept++] = line
  }
  if (!changed) return head
  lines.length = kept
  return lines.join('\r\n')
}

interface HeadState {
  chunks: Buffer[]
  size: number
  /** Date.now() past which the head is late and the socket is dropped. */
  deadline: number
}

/** Shared no-op 'error' listener (one function for all sockets, not a closure each). */
function swallow(): void {}

function defaultMatch(request: StreamRequest): boolean {
  const accept = request.headers.accept
  return (
    request.method !== 'OPTIONS' &&
    typeof accept === 'string' &&
    accept.toLowerCase().includes('text/event-stream')
  )
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/** @internal Builds the connection listener for {@link StreamServer.createConnectionHandler}. */
export function createConnectionHandler(
  core: ServerCore,
  options: ConnectionHandlerOptions,
): (socket: Socket) => void {
  if (
    options === null ||
    typeof options !== 'object' ||
    typeof options.fallback?.emit !== 'function'
  ) {
    throw new TypeError('createConnectionHandler: options.fallback must be an http.Server')
  }
  for (const hook of ['match', 'authorize', 'onSession', 'clientIp'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') {
      throw new TypeError(`createConnectionHandler: ${hook} must be a function`)
    }
  }
  const headersTimeoutMs = positive('headersTimeoutMs', options.headersTimeoutMs, 10_000)
  const maxHeaderBytes = positive('maxHeaderBytes', options.maxHeaderBytes, 16 * 1024)
  const { fallback, authorize, onSession, clientIp } = options
  const guard = core.guard
  // Requests node:http reads on handed-off connections: while one runs the socket waits for no
  // head; once its response ends (keep-alive) it does again, with a deadline. node:http's own
  // head timeout never runs here: it needs the fallback server to listen, which it does not.
  const tracked = fallback as unknown as Partial<GuardableServer>
  if (typeof tracked.prependListener === 'function') {
    tracked.prependListener('request', (req, res) => {
      const socket = req.socket
      guard.requested(socket)
      res.once('finish', () => guard.finished(socket))
    })
  }
  const match = options.match ?? defaultMatch
  const detach = options.detachSockets !== false
  const keepCredentials = options.keepCredentials !== false
  const extraHeaders = options.headers

  function handOff(socket: Socket, bytes: Buffer): void {
    // The httpolyglot move: put the bytes back and let node:http take the connection as if it
    // had accepted it itself.
    socket.pause()
    if (bytes.length > 0) socket.unshift(bytes)
    fallback.emit('connection', socket)
    process.nextTick(() => socket.resume())
  }

  function refuse(socket: Socket, refusal: StreamRefusal, head: boolean): void {
    const status =
      Number.isSafeInteger(refusal.status) && refusal.status >= 400 && refusal.status <= 599
        ? refusal.status
        : 500
    answer(socket, status, refusal.headers ?? {}, refusal.body ?? '', head)
  }

  async function serve(socket: Socket, parsed: ParsedHead, request: StreamRequest) {
    const head = parsed.method === 'HEAD'
    if (authorize !== undefined) {
      let refusal: StreamRefusal | undefined
      try {
        refusal = await authorize(request)
      } catch (error) {
        core.logger.error({ ip: request.ip, err: error }, 'authorize hook threw')
        refusal = { status: 500 }
      }
      if (socket.destroyed) return
      if (refusal !== undefined) {
        refuse(socket, refusal, head)
        return
      }
    }
    const headers = parsed.headers
    const q = parsed.target.indexOf('?')
    const view: RequestView = {
      method: parsed.method,
      header: (name) => headers[name],
      search: q === -1 ? '' : parsed.target.slice(q),
      ip: request.ip,
    }
    const own = options.responseHeaders?.(request)
    const decision = core.decide(
      view,
      own === undefined ? extraHeaders : { ...extraHeaders, ...own },
    )
    if (decision.kind === 'refuse') {
      core.refused(decision.code, request.ip)
      answer(socket, decision.status, decision.headers, decision.body, head)
      return
    }
    if (decision.kind === 'preflight') {
      answer(socket, 204, decision.headers, '', true)
      return
    }
    const responseHeaders = decision.headers
    // The lean path never compresses (no per-session zlib state here: that is its point).
    if (responseHeaders['content-encoding'] !== undefined)
      delete responseHeaders['content-encoding']
    // Close-delimited body: the stream ends when the connection closes.
    const block = `${headerBlock(200, responseHeaders)}connection: keep-alive\r\n\r\n`
    if (decision.head) {
      socket.end(block)
      return
    }
    let raw: HandleSink | undefined
    try {
      // net.Server leaves Nagle on (node:http turns it off): without this, a small event
      // written while the previous one is unacknowledged waits for a delayed ACK.
      socket.setNoDelay(true)
      const encrypted = (socket as { encrypted?: boolean }).encrypted === true
      // The stream keeps the bare TCP handle and lets go of the Socket (handle-sink.ts),
      // unless the app asked to keep it or the runtime cannot.
      raw = detach && !encrypted ? takeHandle(socket as unknown as Socket) : undefined
      let sink: NodeSink | HandleSink
      if (raw !== undefined) {
        const initial = core.initialFrame
        if (initial === undefined) raw.write(Buffer.from(block))
        else raw.writev([Buffer.from(block), initial.bytes])
        sink = raw
      } else {
        socket.cork()
        socket.write(block)
        if (core.initialFrame !== undefined) socket.write(core.initialFrame.bytes)
        socket.uncork()
        sink = new NodeSink(socket as unknown as NodeWritable)
      }
      // The head text, not the parsed headers: the header values are slices of it, so it
      // stays in memory anyway; the object and the slices need not (see HeadSessionInfo).
      // Without its credentials unless asked to keep them (authorized already; a browser's
      // cookies alone are often most of a head).
      const head = keepCredentials ? parsed.head : withoutCredentials(parsed.head)
      const info = new HeadSessionInfo(request.ip, head, encrypted)
      const session = core.open(info, decision.lastEventId, sink)
      if (session !== undefined) {
        // The sink listens for errors now; one listener instead of two keeps the socket's
        // listener table small.
        if (raw === undefined) socket.removeListener('error', swallow)
        runHandler(onSession, session, request)
      }
    } catch (error) {
      core.unreserve(request.ip)
      core.logger.warn({ ip: request.ip, err: error }, 'could not open stream')
      if (raw !== undefined) raw.destroy()
      else socket.destroy()
    }
  }

  // Sockets still sending their head, oldest first (insertion order), with what they sent so
  // far and their deadline. One sweep per handler instead of a timer per socket (a socket
  // timer leaves a Timeout and a bound function behind on every stream for its whole life),
  // and a map instead of a property on the socket (which would stay on it as a dead slot).
  const pending = new Map<Socket, HeadState>()
  let sweep: ReturnType<typeof setInterval> | undefined
  function startSweep(): void {
    if (sweep !== undefined) return
    sweep = setInterval(
      () => {
        const now = Date.now()
        for (const [socket, state] of pending) {
          if (state.deadline > now) break
          pending.delete(socket)
          socket.destroy()
        }
        if (pending.size === 0) {
          clearInterval(sweep)
          sweep = undefined
        }
      },
      Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
    )
    sweep.unref?.()
  }

  function release(socket: Socket, state: HeadState): Buffer {
    pending.delete(socket)
    socket.removeListener('data', onHeadData)
    socket.removeListener('error', onHeadError)
    socket.removeListener('close', onHeadClose)
    return state.chunks.length === 1
      ? (state.chunks[0] as Buffer)
      : Buffer.concat(state.chunks, state.size)
  }

  function onHeadData(this: Socket, chunk: Buffer): void {
    const state = pending.get(this)
    if (state === undefined) return
    state.chunks.push(chunk)
    state.size += chunk.length
    if (state.chunks.length > 1) state.chunks = [Buffer.concat(state.chunks, state.size)]
    const bytes = state.chunks[0] as Buffer
    const end = bytes.indexOf('\r\n\r\n')
    if (end === -1) {
      if (state.size > maxHeaderBytes) handOff(this, release(this, state))
      return
    }
    release(this, state)
    // Bytes past the head (a body, a pipelined request) mean it is not a plain stream request.
    const parsed =
      end + 4 === bytes.length && end <= maxHeaderBytes
        ? parseRequestHead(bytes.toString('latin1', 0, end))
        : undefined
    if (parsed === undefined) {
      handOff(this, bytes)
      return
    }
    let ip = peerAddress(this.remoteAddress)
    let request: StreamRequest
    try {
      request = {
        method: parsed.method,
        url: new URL(parsed.target, `http://${parsed.headers.host ?? 'localhost'}`),
        headers: parsed.headers as RequestHeaders,
        ip,
      }
    } catch {
      handOff(this, bytes)
      return
    }
    if (clientIp !== undefined) {
      try {
        ip = clientIp(request)
        request = { ...request, ip }
      } catch (error) {
        core.logger.error({ ip, err: error }, 'clientIp hook threw')
        handOff(this, bytes)
        return
      }
    }
    let taken: boolean
    try {
      taken = match(request)
    } catch (error) {
      core.logger.error({ ip, err: error }, 'match hook threw')
      taken = false
    }
    if (!taken) {
      handOff(this, bytes)
      return
    }
    // A stream from here on, never a keep-alive connection: the guard forgets it for good.
    guard.taken(this)
    // From here the socket is Herald's: later client bytes are read and dropped, so that a
    // close is still noticed; errors are reported through the session (once it exists) and
    // must never go unhandled meanwhile.
    this.on('error', swallow)
    serve(this, parsed, request).catch((error: unknown) => {
      core.logger.error({ ip, err: error }, 'stream request failed')
      this.destroy()
    })
  }

  function onHeadError(this: Socket): void {
    const state = pending.get(this)
    if (state !== undefined) release(this, state)
    this.destroy()
  }

  function onHeadClose(this: Socket): void {
    const state = pending.get(this)
    if (state !== undefined) release(this, state)
  }

  return (socket) => {
    // Counted against the limits from its first byte on; refused (answered, closed) beyond them.
    if (!guard.admit(socket)) return
    pending.set(socket, { chunks: [], size: 0, deadline: Date.now() + headersTimeoutMs })
    startSweep()
    socket.on('error', onHeadError)
    socket.on('close', onHeadClose)
    socket.on('data', onHeadData)
  }
}
