import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStreamServer, type Session } from '../src/index.js'
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

describe('a real browser', () => {
  it("Chromium's EventSource opens, receives, and resumes with Last-Event-ID after the stream ends", async () => {
    const streams = createStreamServer({ retryMs: 50, heartbeatMs: 0 })
    const cursors: (string | undefined)[] = []
    let server: TestServer | undefined
    try {
      server = await listen((req, res) => {
        if (req.url === '/') {
          res.writeHead(200, { 'content-type': 'text/html' })
          res.end(page)
          return
        }
        if (req.url !== '/events') {
          res.writeHead(404)
          res.end()
          return
        }
        const session: Session | undefined = streams.handleNode(req, res)
        if (session === undefined) return
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
      })
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
      await tab.close()
    } finally {
      await streams.close()
      await server?.close()
    }
  })
})
