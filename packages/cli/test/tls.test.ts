/**
 * Black-box: `herald serve --tls-cert --tls-key` serves HTTPS with HTTP/2 (and HTTP/1.1),
 * streams and publishes multiplexed on one connection, and still drains to exit 0.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createParser } from '@herald/protocol'
import { startHubProcess } from '@herald/testkit'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-tls-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const certPath = join(dir, 'cert.pem')
const keyPath = join(dir, 'key.pem')
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ],
  { stdio: 'ignore' },
)
const ca = readFileSync(certPath)

describe('herald serve over TLS', () => {
  it('speaks HTTP/2 and HTTP/1.1 on https, and drains to exit 0', async () => {
    const hub = await startHubProcess({ args: ['--tls-cert', certPath, '--tls-key', keyPath] })
    expect(hub.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const client = http2.connect(hub.url, { ca })
    try {
      const events: string[] = []
      const stream = client.request({ ':path': '/events?topic=tls', accept: 'text/event-stream' })
      const parser = createParser({ onEvent: (e) => events.push(e.data) })
      expect(
        await new Promise<number>((resolve) =>
          stream.on('response', (headers) => resolve(Number(headers[':status']))),
        ),
      ).toBe(200)
      const got = new Promise<void>((resolve) =>
        stream.on('data', (chunk: Buffer) => {
          parser.feed(chunk)
          if (events.length === 1) resolve()
        }),
      )
      // HTTP/1.1 over the same TLS port publishes.
      const status = await new Promise<number>((resolve, reject) => {
        const request = https.request(
          `${hub.url}/publish`,
          { method: 'POST', ca, headers: { 'content-type': 'application/json' } },
          (response) => {
            response.resume()
            resolve(response.statusCode ?? 0)
          },
        )
        request.on('error', reject)
        request.end(JSON.stringify({ topic: 'tls', data: 'secure' }))
      })
      expect(status).toBe(200)
      await got
      expect(events).toEqual(['secure'])
      // SIGTERM with the stream still open: drained, exit 0.
      const ended = new Promise((resolve) => stream.on('close', resolve))
      expect(await hub.stop()).toBe(0)
      await ended
    } finally {
      client.destroy()
      await hub.stop()
    }
  })
})
