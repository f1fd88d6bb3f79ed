/**
 * A scriptable node:http server for client tests: each test says how to answer the n-th
 * request, and can wait for requests as they arrive.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A request as the server saw it. */
export interface SeenRequest {
  index: number
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
  req: IncomingMessage
  res: ServerResponse
  /** Resolves when the connection closes (client abort, server end or error). */
  closed: Promise<void>
}

export type Handler = (request: SeenRequest) => unknown

export interface TestServer {
  /** `http://127.0.0.1:PORT` */
  origin: string
  requests: SeenRequest[]
  /** Resolves with the n-th request (0-based) once it has arrived. */
  request(index: number): Promise<SeenRequest>
  close(): Promise<void>
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-store',
} as const

/** Starts a server on 127.0.0.1, port 0. */
export async function startServer(handler: Handler, host = '127.0.0.1'): Promise<TestServer> {
  const requests: SeenRequest[] = []
  const waiting = new Map<number, (request: SeenRequest) => void>()
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const request: SeenRequest = {
      index: requests.length,
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      req,
      res,
      closed: new Promise((resolve) => res.once('close', () => resolve())),
    }
    requests.push(request)
    waiting.get(request.index)?.(request)
    waiting.delete(request.index)
    try {
      await handler(request)
    } catch (error) {
      res.destroy(error as Error)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://${host}:${port}`,
    requests,
    request(index) {
      const seen = requests[index]
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve) => waiting.set(index, resolve))
    },
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** Polls `predicate` until it holds, failing after `timeoutMs`. For state with no event to await. */
export async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('until: condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Resolves with the next event of `type` dispatched on `target`. */
export function once<E extends Event = Event>(target: EventTarget, type: string): Promise<E> {
  return new Promise((resolve) =>
    target.addEventListener(type, (event) => resolve(event as E), { once: true }),
  )
}
