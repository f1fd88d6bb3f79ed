import { createParser, type ServerSentEvent } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { createFetchHandler, createStreamServer, type StreamServer } from '../src/index.js'

let streams: StreamServer | undefined

afterEach(async () => {
  await streams?.close()
})

/** Reads a streaming body until `count` events arrived (or it ends). */
async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  count: number,
): Promise<{ events: ServerSentEvent[]; retries: number[]; done: boolean }> {
  const events: ServerSentEvent[] = []
  const retries: number[] = []
  const parser = createParser({
    onEvent: (event) => events.push(event),
    onRetry: (ms) => retries.push(ms),
  })
  while (events.length < count) {
    const { value, done } = await reader.read()
    if (done) return { events, retries, done: true }
    parser.feed(value)
  }
  return { events, retries, done: false }
}

describe('Fetch transport', () => {
  it('answers a Request with a streaming Response', async () => {
    streams = createStreamServer({ retryMs: 3000 })
    const { response, session } = streams.handleFetch(
      new Request('http://example.test/events?lastEventId=5', {
        headers: { accept: 'text/event-stream' },
      }),
      { ip: '10.0.0.1' },
    )
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(response.headers.get('cache-control')).toBe('no-cache, no-store, no-transform')
    expect(response.headers.get('x-accel-buffering')).toBe('no')
    expect(response.headers.has('connection')).toBe(false)
    expect(session?.lastEventId).toBe('5')
    expect(session?.info.ip).toBe('10.0.0.1')
    expect(session?.info.url.pathname).toBe('/events')
    session?.send({ id: '6', data: 'six' })
    session?.send({ id: '7', data: 'seven' })
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const read = await readEvents(reader, 2)
    expect(read.retries).toEqual([3000])
    expect(read.events.map((e) => e.lastEventId)).toEqual(['6', '7'])
    session?.close()
    const rest = await readEvents(reader, 1)
    expect(rest.done).toBe(true)
  })

  it('notices a cancelled body and refuses like the Node path', async () => {
    streams = createStreamServer({ maxConnectionsPerIp: 1 })
    const handler = createFetchHandler(streams)
    const request = () =>
      new Request('http://example.test/', { headers: { accept: 'text/event-stream' } })
    const first = streams.handleFetch(request(), { ip: '10.0.0.2' })
    expect(first.response.status).toBe(200)
    expect(handler(request(), { ip: '10.0.0.2' }).status).toBe(429)
    const notAcceptable = handler(
      new Request('http://example.test/', { headers: { accept: 'application/json' } }),
    )
    expect(notAcceptable.status).toBe(406)
    expect(await notAcceptable.json()).toEqual({
      error: { code: 'HERALD_NOT_ACCEPTABLE', message: expect.any(String) },
    })
    await first.response.body?.cancel()
    expect(await first.session?.closed).toBe('client')
    expect(streams.size).toBe(0)
  })

  it('closes on request abort (Bun and Deno abort request.signal on disconnect)', async () => {
    streams = createStreamServer()
    const controller = new AbortController()
    const { session } = streams.handleFetch(
      new Request('http://example.test/', { signal: controller.signal }),
    )
    controller.abort()
    expect(await session?.closed).toBe('client')
  })

  it('ready() waits for the body reader to pull', async () => {
    streams = createStreamServer({ maxQueueBytes: 10_000, heartbeatMs: 0 })
    const { response, session } = streams.handleFetch(new Request('http://example.test/'))
    if (session === undefined) throw new Error('no session')
    session.send({ data: 'r'.repeat(6000) })
    await new Promise((resolve) => setImmediate(resolve))
    expect(session.bufferedBytes).toBeGreaterThan(5000)
    let ready = false
    const waiting = session.ready().then((open) => {
      ready = open
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(ready).toBe(false)
    // The reader takes the queued bytes: room again.
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let taken = 0
    while (taken < 6000) {
      const { value } = await reader.read()
      taken += value?.byteLength ?? 0
    }
    await waiting
    expect(ready).toBe(true)
    await reader.cancel()
  })

  it('cuts off a reader that stops pulling', async () => {
    streams = createStreamServer({ maxQueueBytes: 10_000 })
    const { response, session } = streams.handleFetch(new Request('http://example.test/'))
    const chunk = { data: 'z'.repeat(1000) }
    let sent = 0
    while (session?.send(chunk)) {
      sent++
      await new Promise((resolve) => setImmediate(resolve))
      if (sent > 1000) break
    }
    expect(await session?.closed).toBe('slow-consumer')
    expect(sent).toBeLessThan(11)
    await expect(response.body?.getReader().read()).rejects.toThrow()
  })
})
