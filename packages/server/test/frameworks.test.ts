import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createExpressHandler,
  createFastifyHandler,
  createHonoHandler,
  createKoaMiddleware,
  createStreamServer,
  type Session,
  type StreamServer,
} from '../src/index.js'
import { fetchText, openStream } from './helpers.js'

let streams: StreamServer | undefined
let stop: (() => Promise<void>) | undefined

afterEach(async () => {
  await streams?.close()
  await stop?.()
  stop = undefined
})

function closeServer(server: Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
}

async function listenNode(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  stop = closeServer(server)
  return (server.address() as AddressInfo).port
}

/** The same checks for every framework: stream headers, events, Last-Event-ID, 406, close. */
async function exercise(port: number, opened: Session[]) {
  const client = await openStream(port, {
    path: '/events?lastEventId=41',
    headers: { origin: 'https://app.example.com' },
  })
  expect(client.response.statusCode).toBe(200)
  expect(client.response.headers['content-type']).toBe('text/event-stream; charset=utf-8')
  expect(client.response.headers['cache-control']).toBe('no-cache, no-store, no-transform')
  expect(client.response.headers['access-control-allow-origin']).toBe('https://app.example.com')
  await client.until(() => client.events.length === 1, 'welcome event')
  expect(client.events[0]).toEqual({ type: 'welcome', data: 'resume after 41', lastEventId: '' })
  expect(opened).toHaveLength(1)
  expect(opened[0]?.info.ip).toBe('127.0.0.1')
  const refused = await fetchText(port, { path: '/events', headers: { accept: 'text/html' } })
  expect(refused.status).toBe(406)
  client.close()
  expect(await opened[0]?.closed).toBe('client')
  expect(streams?.size).toBe(0)
}

function setup() {
  streams = createStreamServer({ cors: { origins: ['https://app.example.com'] } })
  const opened: Session[] = []
  const onSession = (session: Session) => {
    opened.push(session)
    session.send({ event: 'welcome', data: `resume after ${session.lastEventId}` })
  }
  return { streams, opened, onSession }
}

describe('framework adapters', () => {
  it('Express', async () => {
    const { streams, opened, onSession } = setup()
    const app = express()
    app.get('/events', createExpressHandler(streams, onSession))
    const port = await listenNode(app.listen(0, '127.0.0.1'))
    await exercise(port, opened)
  })

  it('Fastify', async () => {
    const { streams, opened, onSession } = setup()
    const app = Fastify()
    app.get('/events', createFastifyHandler(streams, onSession))
    await app.listen({ port: 0, host: '127.0.0.1' })
    stop = async () => {
      await app.close()
    }
    const port = (app.server.address() as AddressInfo).port
    await exercise(port, opened)
  })

  it('Koa', async () => {
    const { streams, opened, onSession } = setup()
    const app = new Koa()
    const stream = createKoaMiddleware(streams, onSession)
    app.use(async (ctx, next) => {
      if (ctx.path === '/events') await stream(ctx)
      else await next()
    })
    const port = await listenNode(app.listen(0, '127.0.0.1'))
    await exercise(port, opened)
  })

  it('Hono on @hono/node-server', async () => {
    const { streams, opened, onSession } = setup()
    const app = new Hono()
    app.get('/events', createHonoHandler(streams, onSession))
    const server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
        resolve(s as Server),
      )
    })
    stop = closeServer(server)
    await exercise((server.address() as AddressInfo).port, opened)
  })

  it('a throwing session handler closes only its session', async () => {
    streams = createStreamServer()
    const reasons: string[] = []
    const app = express()
    app.get(
      '/events',
      createExpressHandler(streams, async (session) => {
        session.closed.then((reason) => reasons.push(reason))
        throw new Error('handler bug')
      }),
    )
    const port = await listenNode(app.listen(0, '127.0.0.1'))
    const client = await openStream(port, { path: '/events' })
    await client.until(() => client.ended)
    expect(reasons).toEqual(['error'])
  })
})
