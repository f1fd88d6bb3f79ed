// A notifications feed with per-user private topics and cookie auth. `/login?user=alice`
// sets the `heraldAuthorization` cookie (HttpOnly, SameSite=Strict) to a token that may
// subscribe to `users/alice` only; the page subscribes to `users/alice` and `broadcast` with
// the cookie the browser sends by itself. Notifications to a user are published `private`:
// only a subscriber whose token grants `users/alice` receives them, whatever it asks for.
//   node examples/notifications/server.mjs       (then open the URL it prints)
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createHub, createMemoryEventStore, mintToken } from '@herald/hub'

const SECRET = process.env.HERALD_JWT_SECRET ?? randomBytes(32).toString('hex')
const USERS = ['alice', 'bob', 'carol']
const page = readFileSync(new URL('./index.html', import.meta.url))
const store = createMemoryEventStore()
// Auth on: a token is needed to subscribe at all (no anonymous subscribers).
const hub = createHub({ store, auth: { jwtSecret: SECRET, anonymousSubscribe: false } })

function notify(user, text) {
  return hub.publish({
    topic: `users/${user}`,
    event: 'notification',
    data: { text, at: Date.now() },
    private: true,
  })
}

let n = 0
const feed = setInterval(() => {
  n++
  const user = USERS[n % USERS.length]
  const publishes = [notify(user, `Hello ${user}, this is notification #${n}`)]
  if (n % 5 === 0) {
    publishes.push(
      hub.publish({
        topic: 'broadcast',
        event: 'notification',
        data: { text: `Everyone: tick ${n}`, at: Date.now() },
      }),
    )
  }
  Promise.all(publishes).catch((error) => console.error('publish failed', error))
}, 1000)

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page)
    return
  }
  if (url.pathname === '/login') {
    // A real app checks a password or a session here; the demo trusts the name.
    const user = url.searchParams.get('user') ?? ''
    if (!USERS.includes(user)) {
      res
        .writeHead(400, { 'content-type': 'text/plain' })
        .end(`user must be one of ${USERS.join(', ')}`)
      return
    }
    const token = await mintToken({
      secret: SECRET,
      subject: user,
      subscribe: [`users/${user}`, 'broadcast'],
      ttlSeconds: 3600,
    })
    res.writeHead(303, {
      location: '/',
      'set-cookie': [
        // The token: HttpOnly, so page scripts never see it; the browser sends it to /events.
        `heraldAuthorization=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600`,
        // The name, for the page to show.
        `user=${user}; Path=/; SameSite=Strict; Max-Age=3600`,
      ],
    })
    res.end()
    return
  }
  if (url.pathname === '/notify' && req.method === 'POST') {
    const user = url.searchParams.get('user') ?? ''
    if (!USERS.includes(user)) return void res.writeHead(400).end()
    const [event] = await notify(user, url.searchParams.get('text') ?? 'ping')
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: event.id }))
    return
  }
  hub.handleNode(req, res)
})
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`notifications on http://127.0.0.1:${server.address().port}`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    clearInterval(feed)
    await hub.drain({ deadlineMs: 1000 })
    await hub.close()
    server.close(() => process.exit(0))
  })
}
