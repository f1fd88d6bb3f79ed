/**
 * Fan-out benchmark server (spawned by bench/fanout.ts, pinned to one core): `GET /sub` opens
 * an event stream, `POST /pub` broadcasts its body to every open stream and answers 202.
 *
 *   tsx bench/fanout-server.ts herald|herald-lean|better-sse|node-floor PORT
 *
 * `herald` serves streams through node:http (`handleNode`); `herald-lean` puts Herald's lean
 * connection path (`createConnectionHandler`) in front, with the same node:http server as the
 * fallback that answers `POST /pub`.
 *
 * Both servers send the same frame: `id: N` + `data: BODY`, a heartbeat only after 15 s idle.
 * `node-floor` does nothing else: bare node:http, the frame built by hand and written to every
 * open response (no queue, no backpressure, no heartbeat): the ceiling for any Node server.
 */
import http from 'node:http'
import net from 'node:net'
import { createFrame, createStreamServer } from '@herald/server'
import { createChannel, createSession } from 'better-sse'

const [kind = 'herald', portArg = '0'] = process.argv.slice(2)
const port = Number(portArg)
let seq = 0

function readBody(req: http.IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => done(Buffer.concat(chunks).toString('utf8')))
}

function answer(res: http.ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': '0' })
  res.end()
}

let handler: http.RequestListener
let lean: ((socket: net.Socket) => void) | undefined
if (kind === 'herald' || kind === 'herald-lean') {
  const streams = createStreamServer({ heartbeatMs: 15_000 })
  handler = (req, res) => {
    if (req.url === '/sub') {
      streams.handleNode(req, res)
    } else if (req.method === 'POST' && req.url === '/pub') {
      readBody(req, (body) => {
        // Encoded once; every session gets the same bytes.
        const frame = createFrame({ id: String(++seq), data: body })
        for (const session of streams.sessions) session.sendFrame(frame)
        answer(res, 202)
      })
    } else answer(res, 404)
  }
  if (kind === 'herald-lean') {
    const fallback = http.createServer(handler)
    fallback.keepAliveTimeout = 75_000
    lean = streams.createConnectionHandler({ fallback })
  }
} else if (kind === 'better-sse') {
  const channel = createChannel()
  handler = (req, res) => {
    if (req.url === '/sub') {
      createSession(req, res, { keepAlive: 15_000, serializer: (data) => String(data) }).then(
        (session) => channel.register(session),
        () => {},
      )
    } else if (req.method === 'POST' && req.url === '/pub') {
      readBody(req, (body) => {
        channel.broadcast(body, 'message', { eventId: String(++seq) })
        answer(res, 202)
      })
    } else answer(res, 404)
  }
} else if (kind === 'node-floor') {
  const open = new Set<http.ServerResponse>()
  handler = (req, res) => {
    if (req.url === '/sub') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write(':\n\n')
      open.add(res)
      res.on('close', () => open.delete(res))
    } else if (req.method === 'POST' && req.url === '/pub') {
      readBody(req, (body) => {
        const frame = `id: ${++seq}\ndata: ${body}\n\n`
        for (const r of open) r.write(frame)
        answer(res, 202)
      })
    } else answer(res, 404)
  }
} else {
  throw new Error(`unknown server kind ${kind}`)
}

const httpServer = http.createServer(handler)
// Publish connections may sit idle between loads; nginx keeps them 75 s, so do the same.
httpServer.keepAliveTimeout = 75_000
const server: net.Server = lean === undefined ? httpServer : net.createServer(lean)
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
  const address = server.address()
  process.stdout.write(`ready ${typeof address === 'object' && address ? address.port : port}\n`)
})
process.on('SIGTERM', () => process.exit(0))
