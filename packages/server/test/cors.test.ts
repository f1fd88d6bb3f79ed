import { afterEach, describe, expect, it } from 'vitest'
import { createStreamServer, type StreamServer, type StreamServerOptions } from '../src/index.js'
import { fetchText, listen, openStream, type TestServer } from './helpers.js'

let server: TestServer | undefined
let streams: StreamServer | undefined

afterEach(async () => {
  await streams?.close()
  await server?.close()
})

async function start(options: StreamServerOptions) {
  streams = createStreamServer(options)
  const s = streams
  server = await listen((req, res) => {
    s.handleNode(req, res)
  })
  return server.port
}

const preflight = (origin: string, requestHeaders = 'last-event-id, authorization') => ({
  method: 'OPTIONS',
  headers: {
    origin,
    'access-control-request-method': 'GET',
    'access-control-request-headers': requestHeaders,
  },
})

describe('CORS', () => {
  it('answers preflights for allowed origins, allowing Last-Event-ID and Authorization', async () => {
    const port = await start({
      cors: {
        origins: ['https://app.example.com', 'https://*.example.org'],
        credentials: true,
        maxAgeSeconds: 60,
      },
    })
    const answer = await fetchText(port, preflight('https://app.example.com'))
    expect(answer.status).toBe(204)
    expect(answer.headers['access-control-allow-origin']).toBe('https://app.example.com')
    expect(answer.headers['access-control-allow-credentials']).toBe('true')
    expect(answer.headers['access-control-allow-methods']).toContain('GET')
    const allowed = String(answer.headers['access-control-allow-headers']).split(', ')
    expect(allowed).toEqual(expect.arrayContaining(['last-event-id', 'authorization']))
    expect(answer.headers['access-control-max-age']).toBe('60')
    expect(answer.headers.vary).toBe('Origin')

    const wildcard = await fetchText(port, preflight('https://a.b.example.org'))
    expect(wildcard.status).toBe(204)
    expect(wildcard.headers['access-control-allow-origin']).toBe('https://a.b.example.org')
  })

  it('refuses origins outside the allowlist, including look-alikes', async () => {
    const port = await start({ cors: { origins: ['https://*.example.org'], credentials: true } })
    for (const origin of [
      'https://example.org',
      'https://evil-example.org',
      'http://a.example.org',
      'https://a.example.org.evil.com',
      'https://a.example.org:8443',
      'null',
    ]) {
      const answer = await fetchText(port, preflight(origin))
      expect(answer.status, origin).toBe(403)
      expect(answer.headers['access-control-allow-origin'], origin).toBeUndefined()
      const get = await fetchText(port, { headers: { origin, accept: 'text/event-stream' } })
      expect(get.status, origin).toBe(403)
      expect(JSON.parse(get.body).error.code).toBe('HERALD_ORIGIN_NOT_ALLOWED')
    }
  })

  it('sends CORS headers on the stream and never * with credentials', async () => {
    const port = await start({ cors: { origins: ['https://app.example.com'], credentials: true } })
    const client = await openStream(port, { headers: { origin: 'https://app.example.com' } })
    expect(client.response.statusCode).toBe(200)
    expect(client.response.headers['access-control-allow-origin']).toBe('https://app.example.com')
    expect(client.response.headers['access-control-allow-credentials']).toBe('true')
    expect(client.response.headers.vary).toBe('Origin')
    client.close()
    // Same-origin requests (no Origin header) need no CORS headers.
    const same = await openStream(port)
    expect(same.response.statusCode).toBe(200)
    expect(same.response.headers['access-control-allow-origin']).toBeUndefined()
    same.close()
  })

  it("allows '*' without credentials and sends refusals with CORS headers", async () => {
    const port = await start({ cors: { origins: ['*'] }, maxConnections: 1 })
    const client = await openStream(port, { headers: { origin: 'https://any.test' } })
    expect(client.response.headers['access-control-allow-origin']).toBe('*')
    expect(client.response.headers['access-control-allow-credentials']).toBeUndefined()
    const refused = await fetchText(port, {
      headers: { origin: 'https://any.test', accept: 'text/event-stream' },
    })
    expect(refused.status).toBe(503)
    // The page can read why it was refused.
    expect(refused.headers['access-control-allow-origin']).toBe('*')
    client.close()
  })
})
