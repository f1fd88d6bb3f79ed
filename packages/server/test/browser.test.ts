import http from 'node:http'
import net from 'node:net'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStreamServer, type Session, type StreamServer } from '../src/index.js'
import { listen, type TestServer } from './helpers.js'

let browser: Browser | undefined

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
})

afterAll(async () => {
  await browser?.close()
})

const page = `<!doctype html><script>
  window.received = []
  window.opens = 0
  const source = new EventSource('/events')
  source.onopen = () => { window.opens++ }
  source.addEventListener('tick', (e) => window.received.push(e.lastEventId + ':' + e.data))
</script>`

type Transport = 'node:http' | 'lean'

/** Serves `handler` on node:http, or behind the lean connection path; resolves with its URL. */
async function serveWith(
  transport: Transport,
  streams: StreamServer,
  handler: http.RequestListener,
  onSession: (session: Session) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  if (transport === 'node:http') {
    const server: TestServer = await listen(handler)
    return server
  }
  const app = http.createServer(handler)
  const front = net.createServer(
    streams.createConnectionHandler({
      fallback: app,
      match: (request) => request.url.pathname === '/events',
      onSession,
    }),
  )
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
  const port = (front.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => front.close(() => resolve())),
  }
}

describe('a real browser', () => {
  for (const transport of ['node:http', 'lean'] as const) {
    it(`Chromium's EventSource opens, receives, and resumes with Last-Event-ID (${transport})`, async () => {
      const streams = createStreamServer({ retryMs: 50, heartbeatMs: 0 })
      const cursors: (string | undefined)[] = []
      const paths: string[] = []
      let server: { url: string; close(): Promise<void> } | undefined
      const onSession = (session: Session) => {
        cursors.push(session.lastEventId)
        if (session.lastEventId === undefined) {
          session.send({ event: 'tick', id: '1', data: 'one' })
          session.send({ event: 'tick', id: '2', data: 'two' })
          // The stream ends (the connection closes): the browser must come back with the cursor.
          setImmediate(() => session.close())
        } else {
          session.send({
            event: 'tick',
            id: String(Number(session.lastEventId) + 1),
            data: 'three',
          })
        }
      }
      try {
        server = await serveWith(
          transport,
          streams,
          (req, res) => {
            if (req.url === '/') {
              // Lean mode: close after the page, so the EventSource needs a fresh connection
              // (one the fallback never saw) and must be served by the lean path.
              res.writeHead(200, {
                'content-type': 'text/html',
                ...(transport === 'lean' ? { connection: 'close' } : {}),
              })
              res.end(page)
              return
            }
            if (req.url !== '/events') {
              res.writeHead(404)
              res.end()
              return
            }
            // A keep-alive connection the fallback already served (the favicon's, say) stays
            // with node:http: the app keeps serving the stream route too, as documented.
            const session = streams.handleNode(req, res)
            if (session !== undefined) {
              paths.push('node:http')
              onSession(session)
            }
          },
          (session) => {
            paths.push('lean')
            onSession(session)
          },
        )
        const tab = await (browser as Browser).newPage()
        await tab.goto(server.url)
        await tab.waitForFunction(
          () => (window as unknown as { received: string[] }).received.length >= 3,
        )
        const state = await tab.evaluate(() => ({
          received: (window as unknown as { received: string[] }).received,
          opens: (window as unknown as { opens: number }).opens,
        }))
        expect(state.received).toEqual(['1:one', '2:two', '3:three'])
        expect(state.opens).toBe(2)
        expect(cursors).toEqual([undefined, '2'])
        // The first stream came on a fresh connection: lean mode must have served it itself.
        expect(paths[0]).toBe(transport)
        await tab.close()
      } finally {
        await streams.close()
        await server?.close()
      }
    })
  }
})
