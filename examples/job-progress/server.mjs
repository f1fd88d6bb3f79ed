// Progress of a long-running job. `POST /jobs` starts one and answers its id; the job
// publishes `progress` events (0..100 %) to `jobs/ID`, then `done`. The page follows the
// topic with the browser's EventSource: reload it mid-job and it resumes from the last event
// it saw (Last-Event-ID), replayed from the hub's log, without a gap.
//   node examples/job-progress/server.mjs        (then open the URL it prints)
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createHub, createMemoryEventStore } from '@herald/hub'

const STEP_MS = Number(process.env.STEP_MS ?? 150)
const page = readFileSync(new URL('./index.html', import.meta.url))
const store = createMemoryEventStore()
const hub = createHub({ store })
const running = new Set()

async function runJob(id) {
  const topic = `jobs/${id}`
  try {
    for (let percent = 0; percent <= 100; percent += 5) {
      await hub.publish({
        topic,
        event: 'progress',
        data: { percent, stage: percent < 50 ? 'crunching' : 'polishing' },
      })
      await new Promise((resolve) => setTimeout(resolve, STEP_MS))
    }
    await hub.publish({ topic, event: 'done', data: { result: `report-${id.slice(0, 8)}.pdf` } })
  } finally {
    running.delete(id)
  }
}

const server = createServer((req, res) => {
  if (req.url === '/' || req.url?.startsWith('/?')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page)
    return
  }
  if (req.url === '/jobs' && req.method === 'POST') {
    const id = randomUUID()
    running.add(id)
    void runJob(id)
    res
      .writeHead(202, { 'content-type': 'application/json' })
      .end(JSON.stringify({ id, topic: `jobs/${id}` }))
    return
  }
  hub.handleNode(req, res)
})
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`job progress on http://127.0.0.1:${server.address().port}`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await hub.drain({ deadlineMs: 1000 })
    await hub.close()
    server.close(() => process.exit(0))
  })
}
