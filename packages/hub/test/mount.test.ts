/**
 * The hub as a library, mounted in real frameworks on real sockets: node:http, Express
 * (at a prefix, unknown paths falling through to the app), Fastify (raw request) and Hono
 * (fetch handler on @hono/node-server).
 */
import { createServer } from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import type { Hub } from '@herald/hub'
import { createHub, createMemoryEventStore } from '@herald/hub'
import { createParser } from '@herald/protocol'
import { openEventStream } from '@herald/testkit'
import { serve } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function newHub(): Hub {
  const store = createMemoryEventStore()
  const hub = createHub({ store, stream: { heartbeatMs: 0 } })
  cleanups.push(async () => {
    await hub.close()
    await store.close()
  })
  return hub
}

/** Publishes, subscribes, resumes: the same checks for every mount. */
async function exercise(base: string): Promise<void> {
  const stream = await openEventStream(`${base}/events?topic=mount/*`)
  expect(stream.status).toBe(200)
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/)
  const post = async (data: unknown) => {
    const response = await fetch(`${base}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'mount/1', data }),
    })
    expect(response.status).toBe(200)
    return ((await response.json()) as { id: string }).id
  }
  const first = await post({ hello: 'world' })
  const second = await post('two')
  expect((await stream.count(2)).map((e) => [e.lastEventId, e.data])).toEqual([
    [first, '{"hello":"world"}'],
    [second, 'two'],
  ])
  stream.close()
  const resumed = await openEventStream(`${base}/events?topic=mount/*`, { 'last-event-id': first })
  expect((await resumed.count(1))[0]?.data).toBe('two')
  resumed.close()
  const health = await fetch(`${base}/healthz`)
  expect(await health.json()).toEqual({ status: 'ok' })
}

async function listen(server: import('node:http').Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(resolve)
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('mounting the hub', () => {
  it('node:http', async () => {
    const hub = newHub()
    await exercise(await listen(createServer((req, res) => hub.handleNode(req, res))))
  })

  it('node:http2 (compat API, h2c): streams and publishes multiplexed on one connection', async () => {
    const hub = newHub()
    const server = http2.createServer((req, res) => hub.handleNode(req, res))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    cleanups.push(
      () =>
        new Promise((resolve) => {
          client.destroy()
          server.close(resolve)
        }),
    )
    const events: string[] = []
    const stream = client.request({ ':path': '/events?topic=h2/*', accept: 'text/event-stream' })
    const parser = createParser({ onEvent: (e) => events.push(`${e.lastEventId}:${e.data}`) })
    const status = await new Promise<number>((resolve) =>
      stream.on('response', (headers) => resolve(Number(headers[':status']))),
    )
    expect(status).toBe(200)
    const got = new Promise<void>((resolve) =>
      stream.on('data', (chunk: Buffer) => {
        parser.feed(chunk)
        if (events.length === 1) resolve()
      }),
    )
    const publish = client.request({
      ':method': 'POST',
      ':path': '/publish',
      'content-type': 'application/json',
    })
    publish.end(JSON.stringify({ topic: 'h2/1', data: 'over h2' }))
    let answer = ''
    publish.setEncoding('utf8').on('data', (chunk: string) => {
      answer += chunk
    })
    await new Promise((resolve) => publish.on('end', resolve))
    const { id } = JSON.parse(answer) as { id: string }
    await got
    expect(events).toEqual([`${id}:over h2`])
    stream.close()
  })

  it('Express, at a prefix, with unknown paths falling through', async () => {
    const hub = newHub()
    const app = express()
    app.use('/hub', (req, res, next) => hub.handleNode(req, res, next))
    app.get('/hub/app-route', (_req, res) => {
      res.json({ from: 'express' })
    })
    const base = await listen(createServer(app))
    await exercise(`${base}/hub`)
    expect(await (await fetch(`${base}/hub/app-route`)).json()).toEqual({ from: 'express' })
  })

  it('Express after express.json() and express.urlencoded(): uses req.body, lists endpoints with the prefix', async () => {
    const hub = newHub()
    const app = express()
    app.use(express.json())
    app.use(express.urlencoded({ extended: false }))
    app.use('/hub', (req, res, next) => hub.handleNode(req, res, next))
    const base = await listen(createServer(app))
    const started = Date.now()
    // Publishes read req.body at once (they waited for the 30 s body deadline, then 408).
    await exercise(`${base}/hub`)
    const form = await fetch(`${base}/hub/.well-known/mercure`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ topic: 'mount/form', data: 'from a form' }),
    })
    expect(form.status).toBe(200)
    expect(Date.now() - started).toBeLessThan(10_000)
    const index = (await (await fetch(`${base}/hub/`)).json()) as { endpoints: string[] }
    expect(index.endpoints).toContain('GET /hub/events')
    expect(index.endpoints).toContain('POST /hub/publish')
    expect(index.endpoints.every((e) => / \/hub\//.test(e))).toBe(true)
  })

  it('Express behind a middleware that read the body and kept nothing: a clear 500 at once', async () => {
    const hub = createHub({ store: createMemoryEventStore(), bodyTimeoutMs: 30_000 })
    cleanups.push(() => hub.close())
    const app = express()
    app.use((req, _res, next) => {
      req.on('data', () => {})
      req.on('end', () => next())
    })
    app.use((req, res, next) => hub.handleNode(req, res, next))
    const base = await listen(createServer(app))
    const started = Date.now()
    const response = await fetch(`${base}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 't', data: 'x' }),
    })
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(response.status).toBe(500)
    const body = (await response.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('HERALD_BODY_ALREADY_READ')
    expect(body.error.message).toContain('express.json()')
  })

  it('Fastify (raw request and response)', async () => {
    const hub = newHub()
    const app = Fastify({ forceCloseConnections: true })
    // Leave request bodies unread: the hub reads and limits them itself.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined))
    app.all('/*', (req, reply) => {
      reply.hijack()
      hub.handleNode(req.raw, reply.raw)
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    cleanups.push(() => app.close())
    await exercise(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`)
  })

  it('Hono (fetch handler on @hono/node-server)', async () => {
    const hub = newHub()
    const app = new Hono()
    app.all('*', (c) => hub.fetch(c.req.raw))
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
    })
    cleanups.push(
      () =>
        new Promise((resolve) => {
          ;(server as import('node:http').Server).closeAllConnections?.()
          server.close(resolve)
        }),
    )
    await exercise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  })
})
