/**
 * Black-box: `herald token`, `herald publish`, `herald subscribe` against a real
 * `herald serve`, and `herald serve` configuration errors, env vars and config file.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { HubProcess } from '@herald/testkit'
import { HERALD_BIN, startHubProcess } from '@herald/testkit'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const SECRET = 'commands-test-secret-0123456789abcdef'
const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function herald(args: string[], env: Record<string, string> = {}, input?: string) {
  const result = spawnSync(process.execPath, [HERALD_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 15_000,
    ...(input === undefined ? {} : { input }),
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Collects stdout lines of a long-running child; resolves once `n` lines arrived. */
function lines(child: ChildProcess, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`timed out; stdout so far: ${out}`)), 30_000)
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const all = out.split('\n').filter((l) => l !== '')
      if (all.length >= n) {
        clearTimeout(timer)
        resolve(all)
      }
    })
  })
}

describe('herald token, publish, subscribe', () => {
  let hub: HubProcess
  beforeAll(async () => {
    hub = await startHubProcess({ args: ['--jwt-secret', SECRET] })
  })
  afterAll(async () => {
    expect(await hub.stop()).toBe(0)
  })

  it('mints an HS256 token with the herald claim and a ttl', () => {
    const result = herald([
      'token',
      '--publish',
      'a/*',
      '--subscribe',
      '*',
      '--ttl',
      '60',
      '--secret',
      SECRET,
    ])
    expect(result.status).toBe(0)
    const claims = decodeJwt(result.stdout.trim())
    expect(claims.herald).toEqual({ publish: ['a/*'], subscribe: ['*'] })
    expect((claims.exp as number) - (claims.iat as number)).toBe(60)
    const missing = herald(['token', '--publish', 'a'], { HERALD_JWT_SECRET: '' })
    expect(missing.status).toBe(2)
    expect(missing.stderr).toMatch(/--secret/)
    expect(herald(['token', '--publish', 'a/**/b', '--secret', SECRET]).status).toBe(2)
  })

  it('publishes with a token and streams with subscribe (--json), resuming after an id', async () => {
    const token = herald([
      'token',
      '--publish',
      'cli/*',
      '--subscribe',
      'cli/*',
      '--secret',
      SECRET,
    ]).stdout.trim()
    const env = { HERALD_URL: hub.url, HERALD_TOKEN: token }
    const subscriber = spawn(
      process.execPath,
      [HERALD_BIN, 'subscribe', 'cli/*', '--json', '--count', '2'],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const received = lines(subscriber, 2)
    // The subscriber is connected once the hub counts it (/metrics needs the admin grant).
    const admin = herald(['token', '--admin', '--secret', SECRET]).stdout.trim()
    expect(decodeJwt(admin).herald).toEqual({ publish: [], subscribe: [], admin: true })
    // A deadline, not a number of polls: a loaded machine starts the subscriber process slowly.
    const deadline = Date.now() + 20_000
    for (;;) {
      const metrics = await (
        await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })
      ).text()
      if (metrics.includes('herald_subscribers{topic="cli/*"} 1')) break
      if (Date.now() > deadline) throw new Error('subscriber never connected')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const first = herald(['publish', 'cli/1', 'hello', '--event', 'greeting'], env)
    expect(first.status, first.stderr).toBe(0)
    const id = first.stdout.trim()
    expect(id).toMatch(/^\d{16}$/)
    const second = herald(['publish', 'cli/2', '-', '--json'], env, '{"n": 2}')
    expect(second.status, second.stderr).toBe(0)
    const out = (await received).map((l) => JSON.parse(l) as Record<string, string>)
    expect(out).toEqual([
      { id, type: 'greeting', data: 'hello' },
      { id: second.stdout.trim(), type: 'message', data: { n: 2 } },
    ])
    await new Promise((resolve) => subscriber.once('exit', resolve))
    expect(subscriber.exitCode).toBe(0)

    const resumed = herald(['subscribe', 'cli/*', '--last-event-id', id, '--count', '1'], env)
    expect(resumed.status).toBe(0)
    expect(resumed.stdout).toBe('{"n":2}\n')
  })

  it('reports hub errors with their code and exits 1', () => {
    const denied = herald(['publish', 'cli/1', 'x'], { HERALD_URL: hub.url })
    expect(denied.status).toBe(1)
    expect(denied.stderr).toMatch(/401 HERALD_UNAUTHORIZED/)
    const token = herald(['token', '--publish', 'cli/*', '--secret', SECRET]).stdout.trim()
    const forbidden = herald(['publish', 'other', 'x', '--url', hub.url, '--token', token])
    expect(forbidden.stderr).toMatch(/403 HERALD_FORBIDDEN/)
    const subscribe = herald(['subscribe', 'other', '--url', hub.url, '--token', token])
    expect(subscribe.status).toBe(1)
    expect(subscribe.stderr).toMatch(/403 HERALD_FORBIDDEN/)
  })
})

describe('herald serve configuration', () => {
  it('explains invalid flags, env vars and config files, exit 2', () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--port', 'eighty'], {}, /--port: expected an integer/],
      [[], { HERALD_PORT: '-1' }, /HERALD_PORT: expected an integer >= 0/],
      [['--max-payload', '0'], {}, /--max-payload: expected an integer >= 1/],
      [
        ['--store', 'redis://127.0.0.1:6379?namespace=no/slash'],
        {},
        /HERALD_INVALID_CONFIG: --store: createRedisEventStore: namespace must be/,
      ],
      [['--store', 'nats://127.0.0.1:4222?namespace=a.b'], {}, /namespace must be/],
      [
        ['--store', 'postgres://x'],
        {},
        /HERALD_UNSUPPORTED_STORE: --store postgres:\/\/x: expected memory, sqlite:PATH, redis:/,
      ],
      [['--jwt-public-key', join(dir, 'missing.pem')], {}, /--jwt-public-key/],
      [
        ['--log-level', 'loud'],
        {},
        /--log-level: expected one of trace, debug, info, warn, error, fatal, silent/,
      ],
      [['--bogus'], {}, /unknown option '--bogus'/],
      [['--retention-topic', 'metrics/**'], {}, /--retention-topic: expected PATTERN=EVENTS/],
      [
        ['--retention-topic', 'a/**/b=5'],
        {},
        /--retention-topic: .*'\*\*' is only allowed as the last segment/,
      ],
    ]
    for (const [args, env, message] of cases) {
      const result = herald(['serve', '--store', 'memory', ...args], env)
      expect(result.status, `${args.join(' ')} ${JSON.stringify(env)}`).toBe(2)
      expect(result.stderr).toMatch(message)
    }
    const config = join(dir, 'bad.json')
    writeFileSync(config, JSON.stringify({ port: 0, colour: 'blue' }))
    const bad = herald(['serve', '--config', config])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/unknown setting "colour"/)
  })

  it('reads a JSON config file, overridden by env vars, overridden by flags', async () => {
    const config = join(dir, 'herald.json')
    writeFileSync(config, JSON.stringify({ store: 'memory', maxPayload: 10, publishRate: 0 }))
    const hub = await startHubProcess({
      args: ['--config', config, '--store', 'memory'],
      env: { HERALD_MAX_PAYLOAD: '20' },
    })
    try {
      const post = (data: string) =>
        fetch(`${hub.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 't', data }),
        })
      expect((await post('x'.repeat(20))).status).toBe(200)
      expect((await post('x'.repeat(21))).status).toBe(413)
    } finally {
      expect(await hub.stop()).toBe(0)
    }
    const flagged = await startHubProcess({
      args: ['--max-payload', '5'],
      env: { HERALD_MAX_PAYLOAD: '20' },
    })
    try {
      const response = await fetch(`${flagged.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 't', data: '123456' }),
      })
      expect(response.status).toBe(413)
    } finally {
      expect(await flagged.stop()).toBe(0)
    }
  })

  it('prints its help with every flag and its env var', () => {
    const help = herald(['serve', '--help'])
    expect(help.status).toBe(0)
    for (const flag of [
      '--port',
      '--host',
      '--store',
      '--jwt-secret',
      '--jwt-public-key',
      '--jwks-url',
      '--heartbeat',
      '--cors-origin',
      '--max-payload',
    ]) {
      expect(help.stdout).toContain(flag)
    }
    expect(help.stdout).toContain('HERALD_JWT_SECRET')
  })
})
