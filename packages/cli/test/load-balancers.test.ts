/**
 * Real load balancers from Debian packages, each with the config shipped in docs/deployment/
 * (only its addresses, paths and connection limits rewritten), in front of two REAL `herald serve` nodes on one private
 * Redis: events arrive one by one through it (no buffering), and the node holding a client's
 * stream, restarted behind it, costs that client one reconnect and no event.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { subscribe } from '@herald/client'
import type { BackendServer, HubProcess } from '@herald/testkit'
import { freePort, startHubProcess, startRedisServer } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const DEPLOYMENT = fileURLToPath(new URL('../../../docs/deployment/', import.meta.url))
const NGINX = '/usr/sbin/nginx'
const HAPROXY = '/usr/sbin/haproxy'
if (process.env.CI === 'true') {
  for (const bin of [NGINX, HAPROXY]) {
    if (!existsSync(bin)) throw new Error(`CI=true but ${bin} is missing: .ci/run installs it`)
  }
}

interface Balancer {
  url: string
  stop(): Promise<void>
}

function run(command: string, args: string[], dir: string): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => (output += d))
  child.stderr?.on('data', (d: Buffer) => (output += d))
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) writeFileSync(join(dir, 'exit.log'), output)
  })
  return child
}

async function untilUp(url: string): Promise<void> {
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${url} never answered`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function rewrite(config: string, listen: number, ports: number[]): string {
  return config
    .replaceAll('127.0.0.1:8080', `127.0.0.1:${listen}`)
    .replaceAll('127.0.0.1:8081', `127.0.0.1:${ports[0]}`)
    .replaceAll('127.0.0.1:8082', `127.0.0.1:${ports[1]}`)
}

async function startNginx(ports: number[]): Promise<Balancer> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-lb-nginx-'))
  const listen = await freePort()
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((name) => `${name}_temp_path ${join(dir, name)};`)
    .join(' ')
  const config = rewrite(readFileSync(join(DEPLOYMENT, 'nginx.conf'), 'utf8'), listen, ports)
    .replace('pid /run/nginx-herald.pid;', `pid ${join(dir, 'nginx.pid')};`)
    .replace(
      'error_log /var/log/nginx/herald-error.log warn;',
      `error_log ${join(dir, 'error.log')} warn;`,
    )
    .replace('worker_processes auto;', 'worker_processes 1;\ndaemon off;\nmaster_process off;')
    .replace('http {', `http {\n    ${temp}`)
  // master_process off: the child is nginx's only process, so stop()'s SIGKILL leaves no
  // worker behind (a killed master orphans its workers, which keep their listening socket).
  writeFileSync(join(dir, 'nginx.conf'), config)
  const child = run(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], dir)
  const url = `http://127.0.0.1:${listen}`
  await untilUp(url)
  return {
    url,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function startHaproxy(ports: number[]): Promise<Balancer> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-lb-haproxy-'))
  const listen = await freePort()
  // maxconn 50000 needs ~100 000 descriptors; this sandbox allows 20 000 per process.
  const config = rewrite(
    readFileSync(join(DEPLOYMENT, 'haproxy.cfg'), 'utf8'),
    listen,
    ports,
  ).replace('maxconn 50000', 'maxconn 5000')
  writeFileSync(join(dir, 'haproxy.cfg'), config)
  const child = run(HAPROXY, ['-db', '-f', join(dir, 'haproxy.cfg')], dir)
  const url = `http://127.0.0.1:${listen}`
  await untilUp(url)
  return {
    url,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

const balancers: [string, (ports: number[]) => Promise<Balancer>][] = [
  ['nginx', startNginx],
  ['HAProxy', startHaproxy],
]

describe.each(balancers)(
  '%s in front of two herald serve nodes (docs/deployment)',
  (_name, startBalancer) => {
    let redis: BackendServer
    let ports: number[] = []
    let nodes: HubProcess[] = []
    let balancer: Balancer
    const startNode = (port: number) =>
      startHubProcess({
        args: [
          '--port',
          String(port),
          '--store',
          `${redis.url}?namespace=lb`,
          '--publish-rate',
          '0',
          '--trust-proxy',
        ],
      })

    beforeAll(async () => {
      redis = await startRedisServer({ persistence: 'none' })
      ports = [await freePort(), await freePort()]
      nodes = await Promise.all(ports.map(startNode))
      balancer = await startBalancer(ports)
    }, 60_000)
    afterAll(async () => {
      await balancer?.stop()
      await Promise.all(nodes.map((n) => n.stop('SIGKILL')))
      await redis?.dispose()
    })

    async function holder(): Promise<number> {
      // The node whose /metrics counts the subscriber.
      for (let i = 0; i < 200; i++) {
        for (const [index, node] of nodes.entries()) {
          const text = await (await fetch(`${node.url}/metrics`)).text()
          if (/herald_subscribers\{topic="lb\/\*"\} 1/.test(text)) return index
        }
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      throw new Error('no node holds the stream')
    }

    it('streams events one by one, and a restarted node costs one reconnect and no event', async () => {
      const stop = new AbortController()
      let opens = 0
      const arrivals: { data: string; at: number }[] = []
      const sub = subscribe(`${balancer.url}/events?topic=lb/*`, {
        signal: stop.signal,
        dedupeWindow: 0,
        backoff: { initialMs: 50, maxMs: 300 },
        onOpen: () => {
          opens++
        },
      })
      const reading = (async () => {
        for await (const event of sub) arrivals.push({ data: event.data, at: performance.now() })
      })()
      const arrived = async (data: string, ms = 15_000) => {
        const end = Date.now() + ms
        for (;;) {
          const hit = arrivals.find((a) => a.data === data)
          if (hit !== undefined) return hit.at
          if (Date.now() > end) throw new Error(`${data} never arrived`)
          await new Promise((resolve) => setImmediate(resolve))
        }
      }
      const post = async (data: string) => {
        const res = await fetch(`${balancer.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 'lb/t', data }),
        })
        return res.status
      }
      const index = await holder()
      // The same events straight from a node, in the same run: what the balancer adds.
      const direct: { data: string; at: number }[] = []
      let directOpen = false
      const straight = subscribe(`${(nodes[0] as HubProcess).url}/events?topic=lb/*`, {
        signal: stop.signal,
        onOpen: () => {
          directOpen = true
        },
      })
      const readingDirect = (async () => {
        for await (const event of straight) direct.push({ data: event.data, at: performance.now() })
      })()
      while (!directOpen) await new Promise((resolve) => setTimeout(resolve, 10))

      // One by one: each event arrives before the next one is published (a buffering proxy
      // would hold them back until its buffer fills or the stream ends).
      const latencies: number[] = []
      const sentAt: number[] = []
      for (let i = 0; i < 20; i++) {
        const sent = performance.now()
        sentAt.push(sent)
        expect(await post(`e${i}`)).toBe(200)
        latencies.push((await arrived(`e${i}`, 5000)) - sent)
      }
      const straightMs = sentAt.map((sent, i) => {
        const hit = direct.find((d) => d.data === `e${i}`)
        return hit === undefined ? Number.NaN : hit.at - sent
      })
      const q = (xs: number[], f: number) =>
        (
          [...xs].filter(Number.isFinite).sort((a, b) => a - b)[Math.floor(f * (xs.length - 1))] ??
          Number.NaN
        ).toFixed(1)
      console.log(
        `${_name}: publish -> event p50/max ms: through it ${q(latencies, 0.5)}/${q(latencies, 1)}, straight from a node ${q(straightMs, 0.5)}/${q(straightMs, 1)}`,
      )

      // The node holding the stream restarts (SIGTERM drains it); publishes go on meanwhile.
      const old = nodes[index] as HubProcess
      const restarting = (async () => {
        await old.stop('SIGTERM')
        nodes[index] = await startNode(ports[index] as number)
      })()
      const during: string[] = []
      for (let i = 0; i < 15; i++) {
        const data = `r${i}`
        for (let attempt = 0; (await post(data).catch(() => 0)) !== 200; attempt++) {
          if (attempt > 100) throw new Error(`could not publish ${data}`)
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        during.push(data)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      await restarting
      for (const data of during) await arrived(data)
      const all = arrivals.map((a) => a.data)
      expect(all).toEqual([...Array.from({ length: 20 }, (_, i) => `e${i}`), ...during])
      expect(opens).toBe(2)
      stop.abort()
      await reading.catch(() => {})
      await readingDirect.catch(() => {})
    }, 90_000)
  },
)
