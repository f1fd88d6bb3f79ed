/**
 * `rediss://` against a private redis-server with TLS (Debian's is built with it), on a free
 * port, with a certificate made here by openssl: the store with a CA and with a client
 * certificate, a wrong CA refused, and `herald serve --store rediss://` trusting the CA
 * through NODE_EXTRA_CA_CERTS.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, type HubProcess, startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisEventStore, type RedisEventStore } from '../src/index.js'

function certificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`)
  const key = join(dir, `${name}-key.pem`)
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  )
  return { cert, key }
}

describe('redis store over TLS (rediss://, private redis-server --tls-port)', () => {
  let dir: string
  let server: ChildProcess
  let url: string
  let ca: string
  let pair: { cert: string; key: string }
  const stores: RedisEventStore[] = []
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-redis-tls-'))
    pair = certificate(dir, 'server')
    ca = readFileSync(pair.cert, 'utf8')
    const port = await freePort()
    url = `rediss://127.0.0.1:${port}`
    server = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        pair.cert,
        '--tls-key-file',
        pair.key,
        '--tls-ca-cert-file',
        pair.cert,
        // Client certificates are checked when given (the store test gives one).
        '--tls-auth-clients',
        'optional',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(
        () => reject(new Error(`redis-server (TLS) did not start:\n${out}`)),
        10_000,
      )
      server.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer)
          resolve()
        }
      })
      server.once('exit', (code) => reject(new Error(`redis-server exited ${code}:\n${out}`)))
    })
  })
  afterAll(async () => {
    for (const store of stores) await store.close()
    server?.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('appends and reads over TLS, with a CA and with a client certificate', async () => {
    for (const tls of [
      { ca },
      { ca, cert: readFileSync(pair.cert), key: readFileSync(pair.key) },
    ]) {
      const store = createRedisEventStore({ url, namespace: 'tls', tls })
      stores.push(store)
      const [event] = await store.append([{ topic: 'secure', data: 'over tls' }])
      const page = await store.read(undefined, { topics: ['secure'], limit: 10 })
      expect(page.kind === 'events' && page.events.map((e) => e.id)).toContain(event?.id)
      expect(await store.health()).toMatchObject({ ok: true })
    }
  })

  it('refuses a server its CA does not vouch for', async () => {
    const other = certificate(dir, 'other')
    const errors: string[] = []
    const store = createRedisEventStore({
      url,
      namespace: 'tls',
      tls: { ca: readFileSync(other.cert) },
      commandTimeoutMs: 500,
      onError: (error) => errors.push(error.message),
    })
    stores.push(store)
    await expect(store.append([{ topic: 'secure', data: 'no' }])).rejects.toMatchObject({
      code: 'HERALD_STORE_UNAVAILABLE',
    })
    expect(errors.join('\n')).toMatch(/self[- ]signed|certificate/i)
  })

  it('herald serve --store rediss:// publishes and streams (CA from NODE_EXTRA_CA_CERTS)', {
    timeout: 60_000,
  }, async () => {
    let hub: HubProcess | undefined
    try {
      hub = await startHubProcess({
        args: ['--store', `${url}?namespace=tls-cli`],
        env: { NODE_EXTRA_CA_CERTS: pair.cert },
        timeoutMs: 45_000,
      })
      const res = await fetch(`${hub.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'secure', data: 'via cli' }),
      })
      expect(res.status).toBe(200)
      const { id } = (await res.json()) as { id: string }
      const reader = createRedisEventStore({ url, namespace: 'tls-cli', tls: { ca } })
      stores.push(reader)
      const page = await reader.read(undefined, { topics: ['secure'], limit: 10 })
      expect(page.kind === 'events' && page.events.map((e) => [e.id, e.data])).toEqual([
        [id, 'via cli'],
      ])
      expect((await fetch(`${hub.url}/readyz`)).status).toBe(200)
    } finally {
      await hub?.stop('SIGKILL')
    }
  })
})
