// A live stock ticker: the hub mounted in a plain node:http server beside a static page; a
// loop publishes a price per symbol every 250 ms to `prices/SYMBOL`; the page subscribes to
// `prices/*` with the browser's native EventSource.
//   node examples/stock-ticker/server.mjs        (then open the URL it prints)
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createHub, createMemoryEventStore } from '@herald/hub'

const page = readFileSync(new URL('./index.html', import.meta.url))
const store = createMemoryEventStore({ retention: { maxEvents: 10_000 } })
const hub = createHub({ store })

const prices = { ACME: 120, GLOBX: 48.5, INITECH: 310, UMBRL: 77.25, HOOLI: 998, STARK: 1450 }
const ticker = setInterval(() => {
  const events = Object.keys(prices).map((symbol) => {
    const before = prices[symbol]
    const after = Math.max(1, before * (1 + (Math.random() - 0.5) * 0.01))
    prices[symbol] = after
    return {
      topic: `prices/${symbol}`,
      event: 'price',
      data: {
        symbol,
        price: Number(after.toFixed(2)),
        change: Number((after - before).toFixed(2)),
        at: Date.now(),
      },
    }
  })
  hub.publish(events).catch((error) => console.error('publish failed', error))
}, 250)

const server = createServer((req, res) => {
  if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page)
    return
  }
  hub.handleNode(req, res) // GET /events, POST /publish, /healthz, ...
})
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`stock ticker on http://127.0.0.1:${server.address().port}`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    clearInterval(ticker)
    await hub.drain({ deadlineMs: 1000 })
    await hub.close()
    server.close(() => process.exit(0))
  })
}
