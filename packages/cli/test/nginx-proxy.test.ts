/**
 * Black-box behind a REAL nginx reverse proxy, configured the way most teams leave it:
 * response buffering on (the default) and a short idle read timeout. Herald's
 * `X-Accel-Buffering: no` must make events arrive one by one, its heartbeats must keep an
 * idle stream open past the proxy's timeout, and `Last-Event-ID` must resume through it.
 *
 * A control proxy that ignores `X-Accel-Buffering` shows that the first check can fail.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createParser, type ServerSentEvent } from '@herald/protocol'
import type { HubProcess } from '@herald/testkit'
import { startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const NGINX = '/usr/sbin/nginx'
const inCI = process.env.CI === 'true'
const haveNginx = existsSync(NGINX)
if (inCI && !haveNginx) throw new Error(`CI=true but ${NGINX} is missing: .ci/run installs it`)

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

interface Proxy {
  url: string
  stop(): Promise<void>
}

/** Runs nginx in the foreground with a config of its own, in a temporary directory. */
async function startNginx(upstream: string, extra: string): Promise<Proxy> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-nginx-'))
  const port = await freePort()
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((name) => `${name}_temp_path ${join(dir, name)};`)
    .join('\n    ')
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
    access_log off;
    ${temp}
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass ${upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 2s;
            ${extra}
        }
    }
}
`,
  )
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const url = `http://127.0.0.1:${port}`
  // Wait until it answers (it proxies /healthz to the hub).
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`)
      if (response.ok) break
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`nginx did not start: ${stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGQUIT')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A raw stream reader that also records comments (heartbeats). */
async function open(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController()
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  })
  const events: ServerSentEvent[] = []
  const comments: string[] = []
  let ended = false
  const waiters = new Set<() => void>()
  const parser = createParser({
    onEvent: (event) => {
      events.push(event)
      for (const wake of waiters) wake()
    },
    onComment: (text) => {
      comments.push(text)
      for (const wake of waiters) wake()
    },
  })
  const body = response.body
  if (body === null) throw new Error('no body')
  const pump = (async () => {
    try {
      for await (const chunk of body) parser.feed(chunk)
    } catch {
      // aborted
    }
    ended = true
    for (const wake of waiters) wake()
  })()
  return {
    response,
    events,
    comments,
    get ended() {
      return ended
    },
    /** Resolves once `predicate()` holds; rejects at the deadline or if the stream ends first. */
    until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (predicate()) {
            waiters.delete(check)
            clearTimeout(timer)
            resolve()
          } else if (ended) {
            waiters.delete(check)
            clearTimeout(timer)
            reject(new Error(`stream ended first; events: ${JSON.stringify(events)}`))
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out; events: ${JSON.stringify(events)}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    async close() {
      controller.abort()
      await pump
    },
  }
}

async function publish(hub: HubProcess, topic: string, data: string): Promise<string> {
  const response = await fetch(`${hub.url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic, data }),
  })
  expect(response.status).toBe(200)
  const body = (await response.json()) as { id: string }
  return body.id
}

describe.skipIf(!haveNginx)('behind a real nginx reverse proxy', () => {
  let hub: HubProcess
  let proxy: Proxy
  let control: Proxy

  beforeAll(async () => {
    hub = await startHubProcess({ args: ['--heartbeat', '1'] })
    proxy = await startNginx(hub.url, '')
    // The control proxy buffers whatever the upstream says.
    control = await startNginx(hub.url, 'proxy_ignore_headers X-Accel-Buffering;')
  })
  afterAll(async () => {
    await proxy?.stop()
    await control?.stop()
    await hub?.stop()
  })

  it('delivers each event as it is published, despite proxy buffering', async () => {
    const stream = await open(`${proxy.url}/events?topic=nginx-live`)
    expect(stream.response.status).toBe(200)
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    for (let i = 0; i < 3; i++) {
      await publish(hub, 'nginx-live', `event ${i}`)
      // Each event must arrive on its own: the next is only published once it did.
      await stream.until(() => stream.events.length === i + 1)
    }
    expect(stream.events.map((e) => e.data)).toEqual(['event 0', 'event 1', 'event 2'])
    await stream.close()
  })

  it('control: a proxy that ignores X-Accel-Buffering holds the stream back', async () => {
    const controller = new AbortController()
    // Resolves when the first event reaches the client, if it ever does.
    const firstEvent = (async () => {
      const response = await fetch(`${control.url}/events?topic=nginx-control`, {
        headers: { accept: 'text/event-stream' },
        signal: controller.signal,
      })
      let got = false
      const parser = createParser({ onEvent: () => (got = true) })
      for await (const chunk of response.body ?? []) {
        parser.feed(chunk)
        if (got) return 'arrived'
      }
      return 'ended'
    })().catch(() => 'aborted')
    await publish(hub, 'nginx-control', 'held back')
    // Asserting an absence needs a window: two heartbeat periods. A buffering proxy holds
    // the headers and the small frames until its buffer fills or the upstream closes.
    const window = new Promise((resolve) => setTimeout(resolve, 2_500, 'held'))
    expect(await Promise.race([firstEvent, window])).toBe('held')
    controller.abort()
    expect(await firstEvent).toBe('aborted')
  })

  it('keeps an idle stream open past the proxy read timeout with heartbeats', async () => {
    const stream = await open(`${proxy.url}/events?topic=nginx-idle`)
    // proxy_read_timeout is 2 s and the hub heartbeats every 1 s: three heartbeats mean the
    // stream outlived the timeout and is still open.
    await stream.until(() => stream.comments.length >= 3, 15_000)
    expect(stream.ended).toBe(false)
    await publish(hub, 'nginx-idle', 'still here')
    await stream.until(() => stream.events.length === 1)
    expect(stream.events[0]?.data).toBe('still here')
    await stream.close()
  })

  it('resumes with Last-Event-ID through the proxy, without gap or duplicate', async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push(await publish(hub, 'nginx-resume', `m${i}`))
    const stream = await open(`${proxy.url}/events?topic=nginx-resume`, {
      'last-event-id': ids[1] as string,
    })
    await stream.until(() => stream.events.length === 3)
    expect(stream.events.map((e) => e.data)).toEqual(['m2', 'm3', 'm4'])
    expect(stream.events.map((e) => e.lastEventId)).toEqual(ids.slice(2))
    await stream.close()
  })
})
