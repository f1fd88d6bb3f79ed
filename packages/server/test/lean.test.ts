import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { createParser } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { parseRequestHead, withoutCredentials } from '../src/connection-handler.js'
import {
  type ConnectionHandlerOptions,
  createFrame,
  createStreamServer,
  type Session,
  type StreamServer,
  type StreamServerOptions,
} from '../src/index.js'
import { fetchText, openStream, selfSignedCert } from './helpers.js'

let streams: StreamServer | undefined
let front: net.Server | undefined

afterEach(async () => {
  await streams?.close()
  const server = front
  front = undefined
  if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
})

/** A net front door: lean streams, everything else to a plain node:http app. */
async function start(
  options: StreamServerOptions = {},
  handler: Partial<Omit<ConnectionHandlerOptions, 'fallback'>> = {},
) {
  streams = createStreamServer(options)
  const s = streams
  const sessions: Session[] = []
  const appRequests: string[] = []
  const app = http.createServer((req, res) => {
    appRequests.push(`${req.method} ${req.url}`)
    if (req.url?.startsWith('/events')) {
      // Streams that reach the app still work, through node:http.
      const session = s.handleNode(req, res)
      if (session !== undefined) sessions.push(session)
      return
    }
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      body += chunk
    })
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`app saw ${req.method} ${req.url} ${body}`)
    })
  })
  const listener = s.createConnectionHandler({
    fallback: app,
    onSession: (session) => {
      sessions.push(session)
    },
    ...handler,
  })
  front = net.createServer(listener)
  await new Promise<void>((resolve) => front?.listen(0, '127.0.0.1', resolve))
  const port = (front.address() as net.AddressInfo).port
  return { port, sessions, appRequests, streams: s }
}

/** Raw exchange: writes `text`, resolves with everything received until the server closes. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text))
    let received = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      received += chunk
    })
    socket.on('close', () => resolve(received))
    socket.on('error', reject)
  })
}

describe('lean connection path', () => {
  it('serves a stream on the bare socket with the stream headers', async () => {
    const { port, sessions, appRequests } = await start({ retryMs: 1000 })
    const client = await openStream(port, {
      path: '/events?topic=a&lastEventId=9',
      headers: { 'x-tenant': 't1' },
    })
    expect(client.response.statusCode).toBe(200)
    const headers = client.response.headers
    expect(headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(headers['cache-control']).toBe('no-cache, no-store, no-transform')
    expect(headers['x-accel-buffering']).toBe('no')
    expect(headers.connection).toBe('keep-alive')
    expect(headers.date).toBeDefined()
    expect(headers['transfer-encoding']).toBeUndefined()
    expect(appRequests).toEqual([])
    const session = sessions[0] as Session
    expect(session.lastEventId).toBe('9')
    expect(session.info.ip).toBe('127.0.0.1')
    expect(session.info.httpVersion).toBe('1.1')
    expect(session.info.url.searchParams.get('topic')).toBe('a')
    expect(session.info.headers['x-tenant']).toBe('t1')
    const frame = createFrame({ id: '10', data: 'lean' })
    for (let i = 0; i < 3; i++) session.sendFrame(frame)
    await client.until(() => client.events.length === 3)
    expect(client.retries).toEqual([1000])
    expect(client.events[0]).toEqual({ type: 'message', data: 'lean', lastEventId: '10' })
    session.close()
    await client.until(() => client.ended)
    expect(await session.closed).toBe('server')
  })

  it('keeps one close listener on a stream socket and reads its info back from the head', async () => {
    // With the Socket kept (detachSockets: false): what stays on it for the stream's life.
    const { port, sessions, streams } = await start({}, { detachSockets: false })
    const sockets: net.Socket[] = []
    front?.prependListener('connection', (socket: net.Socket) => {
      sockets.push(socket)
    })
    const client = await openStream(port, {
      path: '/events?topic=a%2Fb&topic=c',
      headers: { 'x-tenant': ' t1 ', 'x-list': 'a,  b' },
    })
    const socket = sockets[0] as net.Socket
    // The session's: the connection guard and the head reader let go of theirs once the
    // socket became a stream (a third listener used to grow the array for the socket's life).
    expect(socket.listenerCount('close')).toBe(1)
    expect(socket.listenerCount('data')).toBe(0)
    // Nor does node:net keep the peer address it read for the limits: the session has it.
    expect((socket as unknown as { _peername?: unknown })._peername).toBeUndefined()
    const session = sessions[0] as Session
    expect(session.info.ip).toBe('127.0.0.1')
    expect(socket.remoteAddress).toBe('127.0.0.1')
    expect(session.info.headers['x-tenant']).toBe('t1')
    expect(session.info.headers['x-list']).toBe('a,  b')
    expect(session.info.headers.accept).toBe('text/event-stream')
    // Parsed once, then the same object.
    expect(session.info.headers).toBe(session.info.headers)
    expect(session.info.url.href).toBe(`http://127.0.0.1:${port}/events?topic=a%2Fb&topic=c`)
    expect(session.info.url.searchParams.getAll('topic')).toEqual(['a/b', 'c'])
    client.close()
    expect(await session.closed).toBe('client')
    expect(streams.size).toBe(0)
  })

  it('lets go of the Socket once the head is out: the TCP handle alone carries the stream', async () => {
    const { port, sessions, streams } = await start({ heartbeatMs: 0, maxQueueBytes: 64 * 2 ** 20 })
    const sockets: net.Socket[] = []
    front?.prependListener('connection', (socket: net.Socket) => {
      sockets.push(socket)
    })
    const client = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    const ended = new Promise<void>((resolve) => client.on('end', resolve))
    client.write('GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
    const session = await new Promise<Session>((resolve) => {
      const poll = () => (sessions[0] === undefined ? setImmediate(poll) : resolve(sessions[0]))
      poll()
    })
    const socket = sockets[0] as net.Socket
    // Released: destroyed without closing the connection, no listener left on it, and off the
    // server's connection count.
    expect(socket.destroyed).toBe(true)
    expect(socket.eventNames()).toEqual([])
    const connections = await new Promise<number>((resolve, reject) =>
      front?.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    )
    expect(connections).toBe(0)
    expect(streams.size).toBe(1)
    // A peer that stops reading: the kernel's buffers fill, the rest waits in the transport
    // (counted), and ready() resolves once the peer has read again.
    client.pause()
    const big = createFrame({ id: 'big', data: 'b'.repeat(2 * 2 ** 20) })
    let sent = 0
    while (session.bufferedBytes === 0 && sent < 32) {
      session.sendFrame(big)
      sent++
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(session.bufferedBytes).toBeGreaterThan(0)
    const ready = session.ready(0)
    client.resume()
    expect(await ready).toBe(true)
    session.sendFrame(createFrame({ id: 'last', data: 'end' }))
    // Delivered while the stream stays open: the write before it completed and said so.
    while (!Buffer.concat(chunks).includes('id: last')) {
      await new Promise((resolve) => setImmediate(resolve))
    }
    session.close()
    await ended
    expect(await session.closed).toBe('server')
    // Every byte, in order: the head, `sent` big events, the last one.
    const text = Buffer.concat(chunks).toString('latin1')
    const body = text.slice(text.indexOf('\r\n\r\n') + 4)
    const events: { lastEventId: string; data: string }[] = []
    const parser = createParser({ onEvent: (event) => events.push(event) })
    parser.feed(body)
    expect(events.map((e) => e.lastEventId)).toEqual([...Array(sent).fill('big'), 'last'])
    expect(events.every((e) => e.lastEventId !== 'big' || e.data.length === 2 * 2 ** 20)).toBe(true)
    client.destroy()
  })

  it('closes a stream whose client half-closed while it was being authorized', async () => {
    const sockets: net.Socket[] = []
    const { port, streams } = await start(
      { heartbeatMs: 0 },
      {
        // Answers once the server has read the client's FIN (the EOF is behind us then).
        authorize: async () => {
          while (sockets[0]?.readableEnded !== true) {
            await new Promise((resolve) => setImmediate(resolve))
          }
          return undefined
        },
      },
    )
    front?.prependListener('connection', (socket: net.Socket) => {
      sockets.push(socket)
    })
    const client = net.connect(port, '127.0.0.1')
    client.on('error', () => {})
    client.on('data', () => {})
    const closed = new Promise((resolve) => client.on('close', resolve))
    client.end('GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
    // The server closes its side too: the connection ends, and no stream is left open.
    await closed
    while (streams.size > 0) await new Promise((resolve) => setImmediate(resolve))
    expect(streams.size).toBe(0)
  })

  it('notices a client reset on a detached stream', async () => {
    const { port, sessions, streams } = await start({ heartbeatMs: 0 })
    const client = await openStream(port, { path: '/events' })
    const session = sessions[0] as Session
    ;(client.response.socket as net.Socket).resetAndDestroy()
    expect(await session.closed).toBe('client')
    expect(streams.size).toBe(0)
  })

  it('keeps the Socket with detachSockets: false', async () => {
    const { port, sessions } = await start({ heartbeatMs: 0 }, { detachSockets: false })
    const sockets: net.Socket[] = []
    front?.prependListener('connection', (socket: net.Socket) => {
      sockets.push(socket)
    })
    const client = await openStream(port, { path: '/events' })
    const session = sessions[0] as Session
    expect((sockets[0] as net.Socket).destroyed).toBe(false)
    session.sendFrame(createFrame({ data: 'kept' }))
    await client.until(() => client.events.length === 1)
    client.close()
    expect(await session.closed).toBe('client')
  })

  it('keeps no credentials in the info of a stream with keepCredentials: false', async () => {
    const seen: unknown[] = []
    const { port, sessions } = await start(
      { heartbeatMs: 0 },
      {
        keepCredentials: false,
        authorize: (request) => {
          seen.push(request.headers.authorization, request.headers.cookie)
          return undefined
        },
      },
    )
    const client = await openStream(port, {
      path: '/events?topic=a&authorization=tok&access_token=t2',
      headers: { authorization: 'Bearer secret', cookie: 'sid=1', 'x-tenant': 't1' },
    })
    // The hooks saw the whole request.
    expect(seen).toEqual(['Bearer secret', 'sid=1'])
    const info = (sessions[0] as Session).info
    expect(info.headers.authorization).toBeUndefined()
    expect(info.headers.cookie).toBeUndefined()
    expect(info.headers['x-tenant']).toBe('t1')
    expect(info.url.searchParams.get('topic')).toBe('a')
    expect(info.url.searchParams.get('authorization')).toBe('[redacted]')
    expect(info.url.searchParams.get('access_token')).toBe('[redacted]')
    client.close()
  })

  it('keeps them by default', async () => {
    const { port, sessions } = await start({ heartbeatMs: 0 })
    const client = await openStream(port, {
      path: '/events?authorization=tok',
      headers: { authorization: 'Bearer secret', cookie: 'sid=1' },
    })
    const info = (sessions[0] as Session).info
    expect(info.headers.authorization).toBe('Bearer secret')
    expect(info.headers.cookie).toBe('sid=1')
    expect(info.url.searchParams.get('authorization')).toBe('tok')
    client.close()
  })

  it('notices the client leaving', async () => {
    const { port, sessions, streams } = await start()
    const client = await openStream(port, { path: '/events' })
    const session = sessions[0] as Session
    client.close()
    expect(await session.closed).toBe('client')
    expect(streams.size).toBe(0)
  })

  it('hands everything else to the fallback server, bytes intact', async () => {
    const { port, appRequests, sessions } = await start()
    const page = await fetchText(port, { path: '/page' })
    expect(page.status).toBe(200)
    expect(page.body).toBe('app saw GET /page ')
    const post = await new Promise<string>((resolve) => {
      const request = http.request(
        { host: '127.0.0.1', port, path: '/pub', method: 'POST', agent: false },
        (response) => {
          let body = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => {
            body += chunk
          })
          response.on('end', () => resolve(body))
        },
      )
      request.end('hello body')
    })
    expect(post).toBe('app saw POST /pub hello body')
    // Pipelined requests are node:http's business.
    const pipelined = await raw(
      port,
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    expect(pipelined).toContain('app saw GET /a')
    expect(pipelined).toContain('app saw GET /b')
    // A stream request without the event-stream Accept still works, via node:http.
    const viaApp = await openStream(port, { path: '/events', headers: { accept: '*/*' } })
    expect(viaApp.response.statusCode).toBe(200)
    expect(sessions).toHaveLength(1)
    viaApp.close()
    // Malformed or oversized heads: node:http answers them as it always does.
    const bad = await raw(port, 'GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n')
    expect(bad.startsWith('HTTP/1.1 400')).toBe(true)
    const huge = await raw(
      port,
      `GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    )
    expect(huge.startsWith('HTTP/1.1 431')).toBe(true)
    expect(appRequests).toEqual(
      expect.arrayContaining(['GET /page', 'POST /pub', 'GET /a', 'GET /b', 'GET /events']),
    )
  })

  it('answers refusals itself: authorize, 406 and per-IP limits', async () => {
    const { port } = await start(
      { maxConnectionsPerIp: 1 },
      {
        match: (request) => request.url.pathname === '/events',
        authorize: async (request) =>
          request.headers.authorization === 'Bearer ok'
            ? undefined
            : {
                status: 401,
                body: '{"error":{"code":"HERALD_UNAUTHORIZED"}}',
                headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' },
              },
      },
    )
    const anonymous = await fetchText(port, {
      path: '/events',
      headers: { accept: 'text/event-stream' },
    })
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers['www-authenticate']).toBe('Bearer')
    expect(JSON.parse(anonymous.body)).toEqual({ error: { code: 'HERALD_UNAUTHORIZED' } })
    const auth = { authorization: 'Bearer ok' }
    const html = await fetchText(port, {
      path: '/events',
      headers: { ...auth, accept: 'text/html' },
    })
    expect(html.status).toBe(406)
    expect(JSON.parse(html.body).error.code).toBe('HERALD_NOT_ACCEPTABLE')
    const first = await openStream(port, { path: '/events', headers: auth })
    expect(first.response.statusCode).toBe(200)
    const second = await fetchText(port, {
      path: '/events',
      headers: { ...auth, accept: 'text/event-stream' },
    })
    expect(second.status).toBe(429)
    expect(second.headers['retry-after']).toBe('5')
    first.close()
  })

  it('never lets hook-provided headers split the response', async () => {
    const { port } = await start(
      {},
      {
        authorize: () => ({
          status: 403,
          headers: { 'x-ok': 'a\r\nx-injected: 1', 'bad name\r\nx-evil': '1' },
        }),
      },
    )
    const answer = await raw(
      port,
      'GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n',
    )
    expect(answer.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true)
    expect(answer).toContain('x-ok: ax-injected: 1\r\n')
    expect(answer).not.toContain('\r\nx-injected')
    expect(answer).not.toContain('x-evil')
  })

  it('closes a reader that never reads as a slow consumer', async () => {
    const { port, sessions } = await start({ maxQueueBytes: 128 * 1024, heartbeatMs: 0 })
    const client = net.connect(port, '127.0.0.1')
    client.pause()
    client.write('GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')
    const session = await new Promise<Session>((resolve) => {
      const poll = () => (sessions[0] === undefined ? setImmediate(poll) : resolve(sessions[0]))
      poll()
    })
    const frame = createFrame({ data: 'q'.repeat(16 * 1024) })
    let maxBuffered = 0
    for (let turn = 0; turn < 6400 && session.closeReason === undefined; turn++) {
      session.sendFrame(frame)
      maxBuffered = Math.max(maxBuffered, session.bufferedBytes)
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await session.closed).toBe('slow-consumer')
    expect(maxBuffered).toBeLessThanOrEqual(128 * 1024 + frame.bytes.byteLength)
    client.destroy()
  })

  it('works behind TLS: streams on the TLS socket, other requests to the fallback', async () => {
    const { key, cert } = selfSignedCert()
    streams = createStreamServer({ heartbeatMs: 0 })
    const s = streams
    const opened: Session[] = []
    const app = http.createServer((_req, res) => {
      res.end('plain over tls')
    })
    const secure = tls.createServer(
      { key, cert },
      s.createConnectionHandler({
        fallback: app,
        onSession: (session) => void opened.push(session),
      }),
    )
    front = secure
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve))
    const port = (secure.address() as net.AddressInfo).port
    const page = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/', ca: cert, agent: false }, (response) => {
          let body = ''
          response.setEncoding('utf8')
          response.on('data', (chunk: string) => {
            body += chunk
          })
          response.on('end', () => resolve(body))
        })
        .on('error', reject)
    })
    expect(page).toBe('plain over tls')
    const data = await new Promise<string>((resolve, reject) => {
      const request = https.get(
        {
          host: '127.0.0.1',
          port,
          path: '/events',
          ca: cert,
          agent: false,
          headers: { accept: 'text/event-stream' },
        },
        (response) => {
          const parser = createParser({
            onEvent: (event) => {
              resolve(event.data)
              request.destroy()
            },
          })
          response.on('data', (chunk: Buffer) => parser.feed(chunk))
          const session = opened[0]
          expect(session?.info.url.protocol).toBe('https:')
          session?.send({ data: 'secret' })
        },
      )
      request.on('error', () => {})
      request.on('close', () => reject(new Error('closed before an event')))
    })
    expect(data).toBe('secret')
  })

  it('drains lean sessions with jittered retry hints like any other', async () => {
    const { port, streams } = await start({ heartbeatMs: 0, retryMs: 500 })
    const clients = await Promise.all(
      Array.from({ length: 50 }, () => openStream(port, { path: '/events' })),
    )
    expect(streams.size).toBe(50)
    await streams.drain({ deadlineMs: 200, waves: 4, retryJitterMs: 1000 })
    expect(streams.size).toBe(0)
    for (const client of clients) {
      await client.until(() => client.ended, 'end of a drained stream')
      expect(client.retries[0]).toBe(500)
      expect(client.retries[1]).toBeGreaterThanOrEqual(500)
      expect(client.retries[1]).toBeLessThanOrEqual(1500)
    }
    const refused = await fetchText(port, {
      path: '/events',
      headers: { accept: 'text/event-stream' },
    })
    expect(refused.status).toBe(503)
  })

  it('drops connections whose head never completes', async () => {
    const { port } = await start({}, { headersTimeoutMs: 50 })
    const closed = await raw(port, 'GET /events HTTP/1.1\r\nHost: x\r\n')
    expect(closed).toBe('')
  })

  it('validates its options', () => {
    const s = createStreamServer()
    expect(() => s.createConnectionHandler({} as unknown as ConnectionHandlerOptions)).toThrow(
      TypeError,
    )
    expect(() =>
      s.createConnectionHandler({ fallback: http.createServer(), maxHeaderBytes: 0 }),
    ).toThrow(TypeError)
  })
})

describe('withoutCredentials', () => {
  it('drops credential fields whatever their case, redacts credential query parameters', () => {
    expect(
      withoutCredentials(
        'GET /e?a=1&Authorization=x HTTP/1.1\r\nHost: h\r\nCOOKIE: c=1\r\nproxy-authorization: p\r\nx: y',
      ),
    ).toBe('GET /e?a=1&Authorization=[redacted] HTTP/1.1\r\nHost: h\r\nx: y')
  })

  it('returns the head itself when there is nothing to take out', () => {
    const head = 'GET /e?a=1 HTTP/1.1\r\nHost: h\r\naccept: text/event-stream'
    expect(withoutCredentials(head)).toBe(head)
  })
})

describe('parseRequestHead', () => {
  it('parses a plain head and joins repeated headers', () => {
    expect(
      parseRequestHead('GET /e?x=1 HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept:  b \r\nX-E:'),
    ).toEqual({
      method: 'GET',
      target: '/e?x=1',
      headers: { host: 'h', accept: 'a, b', 'x-e': '' },
      head: 'GET /e?x=1 HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept:  b \r\nX-E:',
    })
  })

  it.each([
    ['POST / HTTP/1.1\r\nHost: h'],
    ['GET / HTTP/2.0\r\nHost: h'],
    ['GET http://x/ HTTP/1.1\r\nHost: h'],
    ['GET / HTTP/1.1'],
    ['GET / HTTP/1.1\r\nHost: h\r\nHost: i'],
    ['GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5'],
    ['GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked'],
    ['GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket'],
    ['GET / HTTP/1.1\r\nHost: h\r\nBad Name: x'],
    ['GET / HTTP/1.1\r\nHost: h\r\n folded'],
    ['GET / HTTP/1.1\r\nHost: h\r\nX: a\u0001b'],
  ])('leaves %j to node:http', (head) => {
    expect(parseRequestHead(head)).toBeUndefined()
  })
})
