/**
 * Publishes on the lean HTTP/1.1 path (`leanPublish`), on real sockets, fed by hand-written
 * bytes: the plain publish is answered there; everything unusual (chunked bodies, a second
 * Content-Length, HTTP/1.0, Connection: close, oversized heads and bodies) reaches node:http
 * with its bytes intact at the request boundary; pipelined requests are answered in order;
 * invalid UTF-8 is refused without losing the connection; a body that never completes gets
 * a 408 and the connection closed.
 *
 * node:http marks its keep-alive answers with `Keep-Alive: timeout=5`; the lean path writes
 * no such header, which is how these tests tell who answered.
 */
import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mintToken } from '../src/auth.js'
import { createHub, type Hub } from '../src/hub.js'
import { encodeAnswer, parsePublishHead } from '../src/lean-publish.js'
import { createMemoryEventStore } from '../src/memory-store.js'

interface Answer {
  status: number
  headers: Record<string, string>
  body: string
}

/** A raw client: writes bytes, parses Content-Length answers as they come, sees the close. */
function client(port: number) {
  const socket: Socket = connect(port, '127.0.0.1')
  let buffered = Buffer.alloc(0)
  const answers: Answer[] = []
  let waiter: (() => void) | undefined
  let closed = false
  const closedPromise = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => {})
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n')
      if (end === -1) break
      const lines = buffered.toString('latin1', 0, end).split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      const length = Number(headers['content-length'] ?? 0)
      if (buffered.length < end + 4 + length) break
      answers.push({
        status: Number((lines[0] ?? '').split(' ')[1]),
        headers,
        body: buffered.toString('utf8', end + 4, end + 4 + length),
      })
      buffered = buffered.subarray(end + 4 + length)
    }
    waiter?.()
  })
  socket.on('close', () => {
    closed = true
    waiter?.()
  })
  return {
    socket,
    write: (bytes: string | Buffer) => socket.write(bytes),
    /** Resolves once `n` answers arrived (rejects if the connection closes first). */
    async answers(n: number): Promise<Answer[]> {
      while (answers.length < n) {
        if (closed) throw new Error(`closed after ${answers.length} answers`)
        await new Promise<void>((resolve) => {
          waiter = resolve
        })
      }
      return answers.slice(0, n)
    },
    closed: () => closedPromise,
    get isClosed() {
      return closed
    },
    end: () => socket.destroy(),
  }
}

const publish = (body: string, extra = ''): string =>
  `POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

const SECRET = 'a-secret-of-at-least-32-bytes-long!!'
const event = (data: string) => JSON.stringify({ topic: 'lean/t', data })
const lean = (a: Answer) => a.headers['keep-alive'] === undefined
const byNodeHttp = (a: Answer) => a.headers['keep-alive'] !== undefined

let hub: Hub
let server: Server
let port: number
let store: ReturnType<typeof createMemoryEventStore>
const clients: ReturnType<typeof client>[] = []
const open = () => {
  const c = client(port)
  clients.push(c)
  return c
}

async function stored(): Promise<string[]> {
  const page = await store.read(undefined, { topics: ['**'], limit: 1000 })
  return page.kind === 'events' ? page.events.map((e) => e.data) : []
}

beforeEach(async () => {
  store = createMemoryEventStore()
  hub = createHub({
    store,
    leanPublish: true,
    maxPayloadBytes: 1024,
    maxBodyBytes: 64 * 1024,
    bodyTimeoutMs: 300,
  })
  server = createServer(hub.createConnectionHandler(createHttpServer(hub.handleNode)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterEach(async () => {
  for (const c of clients.splice(0)) c.end()
  await hub.close()
  await new Promise((resolve) => server.close(resolve))
})

describe('lean publish path', () => {
  it('answers a plain publish on the bare socket, and the event is in the log', async () => {
    const c = open()
    c.write(publish(event('one')))
    const [a] = await c.answers(1)
    expect(a?.status).toBe(200)
    expect(lean(a as Answer)).toBe(true)
    expect(a?.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(a?.headers.date).toMatch(/GMT$/)
    expect(JSON.parse(a?.body ?? '')).toEqual({ id: expect.any(String), ids: [expect.any(String)] })
    expect(await stored()).toEqual(['one'])
  })

  it('answers pipelined requests in order, and hands the connection on at the first it does not take', async () => {
    const c = open()
    c.write(
      publish(event('p1')) +
        publish(event('p2')) +
        'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' +
        publish(event('p3')),
    )
    const answers = await c.answers(4)
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200])
    expect(lean(answers[0] as Answer)).toBe(true)
    expect(lean(answers[1] as Answer)).toBe(true)
    // node:http has the connection from the health check on.
    expect(byNodeHttp(answers[2] as Answer)).toBe(true)
    expect(JSON.parse(answers[2]?.body ?? '')).toMatchObject({ status: 'ok' })
    const ids = [0, 1, 3].map((i) => JSON.parse(answers[i]?.body ?? '').id as string)
    expect([...ids].sort()).toEqual(ids)
    expect(await stored()).toEqual(['p1', 'p2', 'p3'])
  })

  it('takes a request whose bytes arrive one at a time', async () => {
    const c = open()
    const bytes = Buffer.from(publish(event('slow but complete')))
    for (const byte of bytes) {
      c.write(Buffer.from([byte]))
      await new Promise((resolve) => setImmediate(resolve))
    }
    const [a] = await c.answers(1)
    expect(a?.status).toBe(200)
    expect(await stored()).toEqual(['slow but complete'])
  })

  it('hands a chunked body to node:http, which reads it whole', async () => {
    const c = open()
    const body = event('chunked')
    c.write(
      `POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    )
    const [a] = await c.answers(1)
    expect(a?.status).toBe(200)
    expect(byNodeHttp(a as Answer)).toBe(true)
    expect(await stored()).toEqual(['chunked'])
  })

  it('never reads a body by Content-Length when Transfer-Encoding is also there (smuggling)', async () => {
    const c = open()
    const smuggled = publish(event('smuggled'))
    // Read by Content-Length, the chunked body's "0\r\n\r\n" would be the body and the
    // smuggled publish a second request.
    c.write(
      `POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    )
    const [a] = await c.answers(1)
    expect(a?.status).toBe(400)
    await c.closed()
    expect(await stored()).toEqual([])
  })

  it('refuses two Content-Lengths (node:http answers 400), publishing nothing', async () => {
    const c = open()
    const body = event('twice')
    c.write(
      `POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nContent-Length: 2\r\n\r\n${body}`,
    )
    const [a] = await c.answers(1)
    expect(a?.status).toBe(400)
    expect(await stored()).toEqual([])
  })

  it('hands HTTP/1.0, Connection: close and other paths to node:http', async () => {
    const c1 = open()
    c1.write(publish(event('close'), 'Connection: close\r\n'))
    const [a1] = await c1.answers(1)
    expect(a1?.status).toBe(200)
    expect(a1?.headers.connection).toBe('close')
    await c1.closed()
    const c2 = open()
    const body = event('ten')
    c2.write(
      `POST /publish HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    )
    const [a2] = await c2.answers(1)
    expect(a2?.status).toBe(200)
    const c3 = open()
    c3.write(publish(event('query'), '').replace('/publish ', '/publish?x=1 '))
    const [a3] = await c3.answers(1)
    expect(byNodeHttp(a3 as Answer)).toBe(true)
    expect(await stored()).toEqual(['close', 'ten', 'query'])
  })

  it('leaves a Host that makes no URL to node:http (400), as without this path', async () => {
    const c = open()
    c.write(publish(event('bad host')).replace('Host: 127.0.0.1', 'Host: bad host'))
    const [a] = await c.answers(1)
    expect(a?.status).toBe(400)
    expect(JSON.parse(a?.body ?? '').error.code).toBe('HERALD_INVALID_REQUEST')
    expect(await stored()).toEqual([])
  })

  it('leaves an oversized body to node:http (413) and an oversized head too (431)', async () => {
    const c1 = open()
    c1.write(
      'POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"topic":',
    )
    const [a1] = await c1.answers(1)
    expect(a1?.status).toBe(413)
    const c2 = open()
    c2.write(`POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n`)
    const [a2] = await c2.answers(1)
    expect(a2?.status).toBe(431)
    expect(await stored()).toEqual([])
  })

  it('refuses a body that is not UTF-8 with 400 and keeps the connection for the next publish', async () => {
    const c = open()
    const bad = Buffer.concat([
      Buffer.from('{"topic":"lean/t","data":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ])
    c.write(
      Buffer.concat([
        Buffer.from(
          `POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${bad.length}\r\n\r\n`,
        ),
        bad,
      ]),
    )
    c.write(publish(event('après')))
    const [a, b] = await c.answers(2)
    expect(a?.status).toBe(400)
    expect(JSON.parse(a?.body ?? '').error.code).toBe('HERALD_INVALID_UTF8')
    expect(b?.status).toBe(200)
    expect(lean(b as Answer)).toBe(true)
    expect(await stored()).toEqual(['après'])
  })

  it('answers 408 and closes when a body stops arriving (slowloris)', async () => {
    const c = open()
    const whole = publish(event('never finished'))
    c.write(whole.slice(0, whole.length - 5))
    const [a] = await c.answers(1)
    expect(a?.status).toBe(408)
    expect(JSON.parse(a?.body ?? '').error.code).toBe('HERALD_REQUEST_TIMEOUT')
    await c.closed()
    expect(await stored()).toEqual([])
  })

  it('answers at the head when no body is needed (415), and closes, as node:http does', async () => {
    const c = open()
    c.write(
      'POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nabc',
    )
    const [a] = await c.answers(1)
    expect(a?.status).toBe(415)
    expect(lean(a as Answer)).toBe(true)
    expect(a?.headers.connection).toBe('close')
    await c.closed()
    expect(await stored()).toEqual([])
  })

  it('takes a body that arrives after its head, then the next request on the connection', async () => {
    const c = open()
    const whole = publish(event('later'))
    const split = whole.indexOf('\r\n\r\n') + 4
    c.write(whole.slice(0, split))
    // The head alone is in: the request is with the route, waiting for its body.
    await new Promise((resolve) => setTimeout(resolve, 20))
    c.write(whole.slice(split) + publish(event('next')))
    const answers = await c.answers(2)
    expect(answers.map((a) => a.status)).toEqual([200, 200])
    expect(answers.every(lean)).toBe(true)
    expect(await stored()).toEqual(['later', 'next'])
  })

  it('checks schemas without a revision read per publish on the memory store, and applies a new one from the next publish', async () => {
    const schemas = store.schemas
    if (schemas === undefined) throw new Error('the memory store has schemas')
    let reads = 0
    const read = schemas.schemaRevision.bind(schemas)
    schemas.schemaRevision = () => {
      reads++
      return read()
    }
    const c = open()
    for (let i = 0; i < 20; i++) c.write(publish(event(`n${i}`)))
    const first = await c.answers(20)
    expect(first.every((a) => a.status === 200 && lean(a))).toBe(true)
    // At most the first publish reads the revision the slow way (the registry's empty cache);
    // the store answers it synchronously after that (it was one read per publish).
    expect(reads).toBeLessThanOrEqual(1)
    const registered = await fetch(`http://127.0.0.1:${port}/schemas`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'lean/*', schema: { type: 'number' } }),
    })
    expect(registered.status).toBe(201)
    c.write(publish(event('not a number')) + publish(event('42')))
    const [refused, accepted] = (await c.answers(22)).slice(20)
    expect(refused?.status).toBe(400)
    expect(JSON.parse(refused?.body ?? '').error.code).toBe('HERALD_SCHEMA_VIOLATION')
    expect(accepted?.status).toBe(200)
    const page = await store.read(undefined, { topics: ['**'], limit: 1000 })
    const events = page.kind === 'events' ? page.events : []
    expect(events.length).toBe(21)
    expect(events.at(-1)).toMatchObject({ data: '42', schemaVersion: 1 })
  })

  it('checks auth there as on node:http', async () => {
    await hub.close()
    await new Promise((resolve) => server.close(resolve))
    hub = createHub({
      store,
      leanPublish: true,
      auth: { jwtSecret: SECRET },
    })
    server = createServer(hub.createConnectionHandler(createHttpServer(hub.handleNode)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
    const c = open()
    c.write(publish(event('anonymous')))
    const [a] = await c.answers(1)
    expect(a?.status).toBe(401)
    expect(lean(a as Answer)).toBe(true)
    expect(a?.headers['www-authenticate']).toBe('Bearer realm="herald"')
    const token = await mintToken({ secret: SECRET, publish: ['lean/**'], ttlSeconds: 60 })
    c.write(publish(event('granted'), `Authorization: Bearer ${token}\r\n`))
    const [, b] = await c.answers(2)
    expect(b?.status).toBe(200)
    expect(lean(b as Answer)).toBe(true)
    expect(await stored()).toEqual(['granted'])
  })
})

describe('lean publish path: defaults and proxies', () => {
  /** Replaces the hub of `beforeEach` with one made from `options`. */
  async function restart(options: Omit<Parameters<typeof createHub>[0], 'store'>): Promise<void> {
    // server.close waits for every open connection.
    for (const c of clients.splice(0)) c.end()
    await hub.close()
    await new Promise((resolve) => server.close(resolve))
    hub = createHub({ store, ...options })
    server = createServer(hub.createConnectionHandler(createHttpServer(hub.handleNode)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  }

  it('is on by default, and off with leanPublish: false', async () => {
    await restart({})
    const c1 = open()
    c1.write(publish(event('default')))
    const [a1] = await c1.answers(1)
    expect(a1?.status).toBe(200)
    expect(lean(a1 as Answer)).toBe(true)
    await restart({ leanPublish: false })
    const c2 = open()
    c2.write(publish(event('off')))
    const [a2] = await c2.answers(1)
    expect(a2?.status).toBe(200)
    expect(byNodeHttp(a2 as Answer)).toBe(true)
    expect(await stored()).toEqual(['default', 'off'])
  })

  it('with trustProxy, keys the per-IP rate limit on the forwarded address, as node:http does', async () => {
    // One publish per address, no refill within any test run (0.01/s).
    await restart({ trustProxy: true, publishRateLimit: { rate: 0.01, burst: 1 } })
    const c = open()
    // The rightmost entry is the proxy's; the client wrote the rest.
    c.write(publish(event('a'), 'X-Forwarded-For: 203.0.113.9, 198.51.100.1\r\n'))
    c.write(publish(event('b'), 'X-Forwarded-For: 203.0.113.10, 198.51.100.1\r\n'))
    c.write(publish(event('c'), 'X-Forwarded-For: 198.51.100.2\r\n'))
    const answers = await c.answers(3)
    expect(answers.map((a) => a.status)).toEqual([200, 429, 200])
    expect(answers.every(lean)).toBe(true)
    expect(await stored()).toEqual(['a', 'c'])
    // The same bytes through node:http give the same answers (a fresh hub, fresh buckets).
    await restart({
      trustProxy: true,
      publishRateLimit: { rate: 0.01, burst: 1 },
      leanPublish: false,
    })
    const n = open()
    n.write(publish(event('a'), 'X-Forwarded-For: 203.0.113.9, 198.51.100.1\r\n'))
    n.write(publish(event('b'), 'X-Forwarded-For: 203.0.113.10, 198.51.100.1\r\n'))
    n.write(publish(event('c'), 'X-Forwarded-For: 198.51.100.2\r\n'))
    const viaNode = await n.answers(3)
    expect(viaNode.map((a) => a.status)).toEqual([200, 429, 200])
    expect(viaNode.every(byNodeHttp)).toBe(true)
  })

  it('with trustProxy, takes the scheme from X-Forwarded-Proto for the cookie origin check', async () => {
    await restart({ trustProxy: true, auth: { jwtSecret: SECRET } })
    const token = await mintToken({ secret: SECRET, publish: ['lean/**'], ttlSeconds: 60 })
    const cookie = `Cookie: heraldAuthorization=${token}\r\nOrigin: https://127.0.0.1\r\n`
    const c = open()
    c.write(publish(event('plain http'), cookie))
    c.write(publish(event('https at the proxy'), `${cookie}X-Forwarded-Proto: https\r\n`))
    const [a, b] = await c.answers(2)
    expect(a?.status).toBe(403)
    expect(JSON.parse(a?.body ?? '').error.code).toBe('HERALD_ORIGIN_NOT_ALLOWED')
    expect(b?.status).toBe(200)
    expect([a, b].every((x) => lean(x as Answer))).toBe(true)
    expect(await stored()).toEqual(['https at the proxy'])
  })

  it('hands a repeated Authorization to node:http, which reads the first', async () => {
    await restart({ auth: { jwtSecret: SECRET } })
    const token = await mintToken({ secret: SECRET, publish: ['lean/**'], ttlSeconds: 60 })
    const c = open()
    c.write(
      publish(event('twice'), `Authorization: Bearer ${token}\r\nAuthorization: Bearer nope\r\n`),
    )
    const [a] = await c.answers(1)
    expect(a?.status).toBe(200)
    expect(byNodeHttp(a as Answer)).toBe(true)
    expect(await stored()).toEqual(['twice'])
  })
})

describe('parsePublishHead', () => {
  const head = (lines: string[]) => parsePublishHead(lines.join('\r\n'))
  const base = ['POST /publish HTTP/1.1', 'Host: h', 'Content-Length: 3']

  it('takes only the plainest publish head', () => {
    expect(head(base)).toEqual({ headers: { host: 'h', 'content-length': '3' }, length: 3 })
    expect(head([...base, 'Connection: Keep-Alive'])?.length).toBe(3)
    expect(head([...base, 'X-A: 1', 'x-a: 2'])?.headers['x-a']).toBe('1, 2')
    expect(head([...base, 'X-Pad:  \t v \t '])?.headers['x-pad']).toBe('v')
  })

  it.each([
    ['another method', ['PUT /publish HTTP/1.1', 'Host: h', 'Content-Length: 3']],
    ['HTTP/1.0', ['POST /publish HTTP/1.0', 'Host: h', 'Content-Length: 3']],
    ['a query', ['POST /publish?topic=t HTTP/1.1', 'Host: h', 'Content-Length: 3']],
    ['no host', ['POST /publish HTTP/1.1', 'Content-Length: 3']],
    ['two hosts', [...base, 'Host: other']],
    ['no length', ['POST /publish HTTP/1.1', 'Host: h']],
    ['two lengths', [...base, 'Content-Length: 3']],
    ['a signed length', ['POST /publish HTTP/1.1', 'Host: h', 'Content-Length: +3']],
    ['a huge length', ['POST /publish HTTP/1.1', 'Host: h', `Content-Length: ${'9'.repeat(20)}`]],
    ['chunked', [...base, 'Transfer-Encoding: chunked']],
    ['Expect', [...base, 'Expect: 100-continue']],
    ['Upgrade', [...base, 'Upgrade: websocket']],
    ['Connection: close', [...base, 'Connection: close']],
    ['a folded line', [...base, 'X-A: 1', ' folded']],
    ['a space before the colon', [...base, 'X-A : 1']],
    ['no colon', [...base, 'garbage']],
    ['a control character', [...base, 'X-A: a\u0000b']],
    ['a bare LF', ['POST /publish HTTP/1.1', 'Host: h\nContent-Length: 3']],
    ['two Authorizations', [...base, 'Authorization: a', 'authorization: b']],
    ['two Cookies', [...base, 'Cookie: a=1', 'Cookie: b=2']],
    ['two Content-Types', [...base, 'Content-Type: a/b', 'Content-Type: c/d']],
  ])('refuses %s', (_name, lines) => {
    expect(head(lines)).toBeUndefined()
  })
})

describe('lean publish answers', () => {
  it('encodes each answer with its own status, headers and body (a shared frozen head is reused)', () => {
    const split = (bytes: string) => {
      const [head = '', body] = bytes.split('\r\n\r\n')
      const [status, ...lines] = head.split('\r\n')
      return { status, lines: lines.filter((l) => !l.startsWith('date: ')), body }
    }
    const shared: Record<string, string> = Object.freeze({ 'content-type': 'application/json' })
    const answers = [
      { status: 200, headers: shared, body: '{}' },
      { status: 200, headers: shared, body: '{"a":"é"}' },
      { status: 409, headers: shared, body: '{}' },
      { status: 200, headers: { 'content-type': 'text/plain', 'x-a': '1' }, body: 'x' },
      { status: 200, headers: shared, body: '{}' },
    ]
    expect(answers.map((a) => split(encodeAnswer(a)))).toEqual([
      {
        status: 'HTTP/1.1 200 OK',
        lines: ['content-type: application/json', 'content-length: 2'],
        body: '{}',
      },
      {
        status: 'HTTP/1.1 200 OK',
        lines: ['content-type: application/json', 'content-length: 10'],
        body: '{"a":"é"}',
      },
      {
        status: 'HTTP/1.1 409 Conflict',
        lines: ['content-type: application/json', 'content-length: 2'],
        body: '{}',
      },
      {
        status: 'HTTP/1.1 200 OK',
        lines: ['content-type: text/plain', 'x-a: 1', 'content-length: 1'],
        body: 'x',
      },
      {
        status: 'HTTP/1.1 200 OK',
        lines: ['content-type: application/json', 'content-length: 2'],
        body: '{}',
      },
    ])
    // A header value that cannot be sent is still refused, frozen or not.
    const bad = Object.freeze({ 'x-bad': 'a\r\nb' })
    expect(() => encodeAnswer({ status: 200, headers: bad, body: '' })).toThrow(TypeError)
    expect(() => encodeAnswer({ status: 200, headers: bad, body: '' })).toThrow(TypeError)
  })
})
