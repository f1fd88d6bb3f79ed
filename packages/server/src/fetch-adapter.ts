/**
 * Fetch transport: `Request` in, streaming `Response` out. Runtime-neutral (Node, Bun, Deno,
 * edge runtimes): Web Streams and Fetch only, no Node built-ins.
 */
import type { RequestView } from './admission.js'
import { eagerSessionInfo } from './info.js'
import type { ServerCore } from './server.js'
import type { Sink, SinkOwner } from './sink.js'
import type { FetchHandleInit, FetchHandleResult, RequestHeaders } from './types.js'

// Sent first when there is no retry hint, so runtimes that wait for the first body chunk
// before sending headers still let the client see `open` at once.
const OPEN_COMMENT = new TextEncoder().encode(':\n')

class FetchSink implements Sink {
  controller: ReadableStreamDefaultController<Uint8Array> | undefined = undefined
  owner: SinkOwner | undefined = undefined
  clientGone = false

  attach(owner: SinkOwner): void {
    this.owner = owner
  }

  write(chunk: Uint8Array, done?: () => void): void {
    try {
      this.controller?.enqueue(chunk)
    } catch {
      // Already closed or errored: the close path reports it.
    }
    // The body's queue holds the chunk by reference and `buffered` counts it: taken.
    done?.()
  }

  writev(chunks: readonly Uint8Array[], done?: () => void): void {
    try {
      for (const chunk of chunks) this.controller?.enqueue(chunk)
    } catch {
      // Already closed or errored: the close path reports it.
    }
    done?.()
  }

  get buffered(): number {
    const desired = this.controller?.desiredSize
    // High-water mark 0, size in bytes: -desiredSize is what the reader has not pulled.
    return desired === null || desired === undefined || desired >= 0 ? 0 : -desired
  }

  end(done?: () => void): void {
    this.owner = undefined
    // The runtime owns the body from here; there is no transport to wait for.
    done?.()
    try {
      this.controller?.close()
    } catch {
      // Already closed.
    }
  }

  destroy(): void {
    this.owner = undefined
    try {
      // The client is gone: nobody reads, a plain close frees the queue without an error
      // that hosts would log. Otherwise (slow consumer) error the body to drop its queue now.
      if (this.clientGone) this.controller?.close()
      else this.controller?.error(new Error('event stream closed'))
    } catch {
      // Already closed.
    }
  }

  drainListener: (() => void) | undefined = undefined

  onDrain(listener: () => void): void {
    this.drainListener = listener
  }

  /** The reader asked for more: what was queued has been taken. */
  pulled(): void {
    this.drainListener?.()
  }

  gone(): void {
    this.clientGone = true
    const owner = this.owner
    this.owner = undefined
    owner?.transportClosed('client')
  }
}

function refusalResponse(status: number, headers: Record<string, string>, body: string | null) {
  return new Response(body, { status, headers })
}

/** Handles a Fetch request. */
export function handleFetchRequest(
  core: ServerCore,
  request: Request,
  init: FetchHandleInit | undefined,
): FetchHandleResult {
  const url = new URL(request.url)
  const ip = init?.ip ?? ''
  const view: RequestView = {
    method: request.method,
    header: (name) => request.headers.get(name) ?? undefined,
    search: url.search,
    ip,
  }
  const decision = core.decide(view, init?.headers)
  if (decision.kind === 'refuse') {
    core.refused(decision.code, ip)
    return {
      response: refusalResponse(decision.status, decision.headers, decision.body),
      session: undefined,
    }
  }
  if (decision.kind === 'preflight') {
    return { response: refusalResponse(204, decision.headers, null), session: undefined }
  }
  const headers = decision.headers
  // Compression needs node:zlib: the Fetch path always streams identity.
  if (headers['content-encoding'] !== undefined) {
    delete headers['content-encoding']
  }
  if (decision.head) {
    return { response: new Response(null, { status: 200, headers }), session: undefined }
  }
  const sink = new FetchSink()
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        sink.controller = controller
      },
      pull() {
        sink.pulled()
      },
      cancel() {
        sink.gone()
      },
    },
    { highWaterMark: 0, size: (chunk) => chunk.byteLength },
  )
  sink.write(core.initialFrame?.bytes ?? OPEN_COMMENT)
  const record: Record<string, string> = {}
  request.headers.forEach((value, name) => {
    record[name] = value
  })
  const info = eagerSessionInfo(ip, record as RequestHeaders, '1.1', url)
  const session = core.open(info, decision.lastEventId, sink)
  if (session !== undefined && !request.signal.aborted) {
    request.signal.addEventListener('abort', () => sink.gone(), { once: true })
  } else if (session !== undefined) {
    sink.gone()
  }
  return {
    response: new Response(body, { status: 200, headers }),
    session: session?.closeReason === undefined ? session : undefined,
  }
}
