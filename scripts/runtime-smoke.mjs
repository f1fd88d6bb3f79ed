#!/usr/bin/env node
// Runtime smoke suite: what we claim runs on Bun, Deno and Node, run on the runtime that runs
// this file, over real sockets on 127.0.0.1: @herald/protocol (parse, encode), the Fetch
// transport of @herald/server served by the runtime's own HTTP server (Bun.serve, Deno.serve;
// node:http through a small Request/Response bridge on Node), @herald/client (`subscribe` and
// `EventSource`, reconnect with Last-Event-ID) and the hub's fetch handler (publish, live,
// replay). Plain ESM over the built packages (run `npm run build` first), no test runner:
//   node scripts/runtime-smoke.mjs
//   node_modules/.bin/bun scripts/runtime-smoke.mjs
//   node_modules/.bin/deno run --allow-net --allow-read --allow-env --allow-sys scripts/runtime-smoke.mjs
// Prints one line per test and `N passed, N failed`; exits 1 on any failure.
import { EventSource, subscribe } from '@herald/client'
import { createHub, createMemoryEventStore } from '@herald/hub'
import { createParser, encodeEvent, isHeraldError } from '@herald/protocol'
import { createStreamServer } from '@herald/server'

const runtime = globalThis.Bun
  ? `bun ${globalThis.Bun.version}`
  : globalThis.Deno
    ? `deno ${globalThis.Deno.version.deno}`
    : `node ${process.version}`

/** Starts an HTTP server on 127.0.0.1 for a Fetch handler, with the runtime's own server. */
async function serve(handler) {
  if (globalThis.Bun) {
    const server = globalThis.Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: handler,
      idleTimeout: 0,
    })
    return { url: `http://127.0.0.1:${server.port}`, close: () => server.stop(true) }
  }
  if (globalThis.Deno) {
    const server = globalThis.Deno.serve({ port: 0, hostname: '127.0.0.1', onListen() {} }, handler)
    return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() }
  }
  const { createServer } = await import('node:http')
  const { Readable } = await import('node:stream')
  const server = createServer(async (req, res) => {
    const abort = new AbortController()
    res.on('close', () => abort.abort())
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers: Object.entries(req.headers).flatMap(([k, v]) =>
        v === undefined ? [] : Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]],
      ),
      body: hasBody ? Readable.toWeb(req) : undefined,
      duplex: 'half',
      signal: abort.signal,
    })
    const response = await handler(request)
    res.writeHead(response.status, [...response.headers].flat())
    if (response.body === null) return void res.end()
    const reader = response.body.getReader()
    abort.signal.addEventListener('abort', () => reader.cancel().catch(() => {}))
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        res.write(value)
      }
    } catch {}
    res.end()
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(resolve)
      }),
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message)
}

function equal(actual, expected, what) {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`)
}

function within(ms, promise, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

const tests = []
const test = (name, fn) => tests.push({ name, fn })

test('protocol: parses any chunking (CRLF split, UTF-8 split) into WHATWG events', () => {
  const events = []
  const parser = createParser({ onEvent: (e) => events.push(e) })
  const bytes = new TextEncoder().encode(
    'id: 7\r\nevent: note\r\ndata: h\u00e9llo\r\ndata: x\r\n\r\n',
  )
  // One byte at a time: every CRLF and the two-byte é are split.
  for (const byte of bytes) parser.feed(new Uint8Array([byte]))
  equal(events, [{ type: 'note', data: 'h\u00e9llo\nx', lastEventId: '7' }], 'events')
})

test('protocol: encodeEvent round-trips and refuses an id with a line break', () => {
  const frame = encodeEvent({ id: '1', event: 'tick', data: 'a\nb', retry: 500 })
  const events = []
  let retry
  createParser({ onEvent: (e) => events.push(e), onRetry: (ms) => (retry = ms) }).feed(frame)
  equal(events, [{ type: 'tick', data: 'a\nb', lastEventId: '1' }], 'round trip')
  equal(retry, 500, 'retry')
  let error
  try {
    encodeEvent({ id: 'a\nb', data: 'x' })
  } catch (e) {
    error = e
  }
  assert(isHeraldError(error) && error.code === 'HERALD_INVALID_EVENT_ID', `got ${error}`)
})

test('server (Fetch) + client subscribe: live events, then a resume with Last-Event-ID', async () => {
  const streams = createStreamServer({ heartbeatMs: 0 })
  const seen = []
  const server = await serve((request) => {
    const { response, session } = streams.handleFetch(request)
    if (session !== undefined) {
      seen.push(session.lastEventId ?? null)
      const from = Number(session.lastEventId ?? 0)
      // Three events, then the server ends the stream: the client must resume after the last.
      for (let i = from + 1; i <= from + 3; i++) session.send({ id: String(i), data: `e${i}` })
      if (from === 0) setTimeout(() => session.close(), 20)
    }
    return response
  })
  try {
    const got = []
    const sub = subscribe(`${server.url}/events`, { backoff: { initialMs: 10, maxMs: 50 } })
    await within(
      8000,
      (async () => {
        for await (const event of sub) {
          got.push(event.data)
          if (got.length === 6) break
        }
      })(),
      'subscribe',
    )
    equal(got, ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'], 'events')
    equal(seen, [null, '3'], 'Last-Event-ID seen by the server')
  } finally {
    await streams.close()
    await server.close()
  }
})

test('server (Fetch): a client that goes away closes its session (no leak)', async () => {
  const streams = createStreamServer({ heartbeatMs: 0 })
  let opened
  const session = new Promise((resolve) => {
    opened = resolve
  })
  const server = await serve((request) => {
    const result = streams.handleFetch(request)
    if (result.session !== undefined) opened(result.session)
    return result.response
  })
  try {
    const controller = new AbortController()
    const response = await fetch(`${server.url}/events`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    })
    equal(response.status, 200, 'status')
    const open = await within(8000, session, 'session')
    equal(streams.size, 1, 'open sessions')
    controller.abort()
    // Some runtimes only notice a gone peer on the next write: keep writing until it closes.
    const ticker = setInterval(() => open.comment('ping'), 50)
    try {
      await within(8000, open.closed, 'session close after the client left')
    } finally {
      clearInterval(ticker)
    }
    equal(streams.size, 0, 'open sessions after the client left')
  } finally {
    await streams.close()
    await server.close()
  }
})

test('client EventSource: open, events with lastEventId, an idle stream stays open, close', async () => {
  const streams = createStreamServer({ heartbeatMs: 0 })
  const server = await serve((request) => {
    const { response, session } = streams.handleFetch(request)
    session?.send({ id: '42', event: 'hello', data: 'world' })
    // After the response has gone out and the stream sat idle: still open (Deno's legacy
    // request.signal aborts "on successful responses"; it must not end a stream).
    setTimeout(() => session?.send({ id: '43', event: 'later', data: 'still here' }), 700)
    return response
  })
  try {
    const source = new EventSource(`${server.url}/events`)
    const event = await within(
      8000,
      new Promise((resolve, reject) => {
        source.addEventListener('hello', resolve)
        source.onerror = () =>
          source.readyState === EventSource.CLOSED && reject(new Error('closed'))
      }),
      'EventSource',
    )
    equal(
      [event.data, event.lastEventId, source.readyState],
      ['world', '42', EventSource.OPEN],
      'event',
    )
    const later = await within(
      8000,
      new Promise((resolve) => source.addEventListener('later', resolve)),
      'event after an idle 700 ms',
    )
    equal([later.data, later.lastEventId], ['still here', '43'], 'later event')
    source.close()
    equal(source.readyState, EventSource.CLOSED, 'readyState after close')
  } finally {
    await streams.close()
    await server.close()
  }
})

test('hub fetch handler: publish, live delivery, replay from a cursor, JSON errors', async () => {
  const store = createMemoryEventStore()
  const hub = createHub({ store, stream: { heartbeatMs: 0 } })
  const server = await serve((request) => hub.fetch(request, { ip: '127.0.0.1' }))
  const publish = (body) =>
    fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  try {
    const controller = new AbortController()
    const live = subscribe(`${server.url}/events?topic=orders/*`, {
      json: true,
      signal: controller.signal,
    })
    const first = within(8000, live.next(), 'live event')
    // The subscriber is attached once the hub counts it.
    await within(
      8000,
      (async () => {
        while (hub.subscribers < 1) await new Promise((r) => setTimeout(r, 10))
      })(),
      'subscriber attached',
    )
    const answer = await publish({ topic: 'orders/1', data: { n: 1 } })
    equal(answer.status, 200, 'publish status')
    const { id } = await answer.json()
    const { value } = await first
    equal([value.data, value.lastEventId], [{ n: 1 }, id], 'live event')
    controller.abort()
    await publish({ topic: 'orders/2', data: { n: 2 } })
    const replay = subscribe(`${server.url}/events?topic=orders/*`, {
      json: true,
      initialLastEventId: id,
    })
    const { value: replayed } = await within(8000, replay.next(), 'replayed event')
    equal(replayed.data, { n: 2 }, 'replayed event')
    await replay.return()
    const bad = await publish({ topic: 'orders/*', data: 1 })
    equal(bad.status, 400, 'status of a publish to a pattern')
    equal((await bad.json()).error.code, 'HERALD_INVALID_TOPIC', 'error code')
  } finally {
    await hub.close()
    await store.close()
    await server.close()
  }
})

let passed = 0
let failed = 0
console.log(`herald runtime smoke on ${runtime}`)
for (const { name, fn } of tests) {
  try {
    await fn()
    passed++
    console.log(`ok - ${name}`)
  } catch (error) {
    failed++
    console.log(`not ok - ${name}: ${error?.stack ?? error}`)
  }
}
console.log(`${passed} passed, ${failed} failed`)
// Some runtimes keep a keep-alive socket of fetch open: exit explicitly.
const exit = globalThis.Deno ? (code) => globalThis.Deno.exit(code) : (code) => process.exit(code)
exit(failed === 0 ? 0 : 1)
