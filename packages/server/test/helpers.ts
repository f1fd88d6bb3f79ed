/**
 * Test helpers: real servers on port 0 and real HTTP clients that parse what they receive.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createParser, type ServerSentEvent } from '@herald/protocol'

/** A listening node:http server, closed by `close()`. */
export interface TestServer {
  port: number
  url: string
  server: http.Server
  close(): Promise<void>
}

export async function listen(handler: http.RequestListener): Promise<TestServer> {
  const server = http.createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** What a client stream saw, with a way to wait for more. */
export interface ClientStream {
  response: http.IncomingMessage
  events: ServerSentEvent[]
  comments: string[]
  retries: number[]
  raw: string[]
  ended: boolean
  /** Resolves once `predicate` holds (checked after every chunk); rejects on timeout. */
  until(predicate: () => boolean, what?: string): Promise<void>
  close(): void
}

export interface OpenOptions {
  path?: string
  headers?: Record<string, string>
  localAddress?: string
  method?: string
}

/** Opens a stream with node:http and parses it. Resolves once the response headers arrive. */
export function openStream(port: number, options: OpenOptions = {}): Promise<ClientStream> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: { accept: 'text/event-stream', ...options.headers },
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (response) => {
        const waiters = new Set<() => void>()
        const notify = () => {
          for (const waiter of waiters) waiter()
        }
        const stream: ClientStream = {
          response,
          events: [],
          comments: [],
          retries: [],
          raw: [],
          ended: false,
          until(predicate, what = 'condition') {
            if (predicate()) return Promise.resolve()
            return new Promise((resolveWait, rejectWait) => {
              const timer = setTimeout(() => {
                waiters.delete(check)
                rejectWait(new Error(`timed out waiting for ${what}; got ${stream.raw.join('')}`))
              }, 10_000)
              const check = () => {
                if (!predicate()) return
                clearTimeout(timer)
                waiters.delete(check)
                resolveWait()
              }
              waiters.add(check)
            })
          },
          close() {
            request.destroy()
          },
        }
        const parser = createParser({
          onEvent: (event) => stream.events.push(event),
          onComment: (text) => stream.comments.push(text),
          onRetry: (ms) => stream.retries.push(ms),
        })
        response.on('data', (chunk: Buffer) => {
          stream.raw.push(chunk.toString('utf8'))
          parser.feed(chunk)
          notify()
        })
        const finish = () => {
          stream.ended = true
          notify()
        }
        response.on('end', finish)
        response.on('close', finish)
        response.on('error', finish)
        resolve(stream)
      },
    )
    request.on('error', reject)
    request.end()
  })
}

/** A plain request; resolves with status, headers and the whole body. */
export function fetchText(
  port: number,
  options: OpenOptions = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        )
      },
    )
    request.on('error', reject)
    request.end()
  })
}

/** Polls `predicate` every turn until it holds, up to `timeoutMs`. */
export async function eventually(
  predicate: () => boolean,
  what = 'condition',
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A throwaway self-signed certificate for 127.0.0.1, made with the system's openssl. */
export function selfSignedCert(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'herald-cert-'))
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    )
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
