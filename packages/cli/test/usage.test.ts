/**
 * Black-box: what a new user meets at the command line: help with value placeholders, "did
 * you mean" for typos, exit codes (0 success and help, 1 runtime failure, 2 usage), subscribe
 * retry messages, config files in YAML and TOML, and warnings that come at the right time.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HERALD_BIN, startHubProcess } from '@herald/testkit'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-usage-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function herald(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [HERALD_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 15_000,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** A port nothing listens on: bound, then released. */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('herald usage and exit codes', () => {
  it('a bare herald prints the commands on stderr and exits 2; --help and help exit 0', () => {
    const bare = herald([])
    expect(bare.status).toBe(2)
    expect(bare.stderr).toContain('Usage: herald')
    for (const command of ['serve', 'publish', 'subscribe', 'token', 'parse']) {
      expect(bare.stderr).toContain(command)
    }
    expect(herald(['--help']).status).toBe(0)
    const help = herald(['help', 'publish'])
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('Usage: herald publish [options] <TOPIC> <DATA>')
    expect(herald(['--version']).stdout).toMatch(/^\d+\.\d+\.\d+\n$/)
  })

  it('suggests the option or command meant, in a few lines, exit 2', () => {
    const typo = herald(['serve', '--prot', '9000'])
    expect(typo.status).toBe(2)
    expect(typo.stderr).toContain("herald serve: unknown option '--prot'")
    expect(typo.stderr).toContain('Did you mean --port?')
    // The pointer to --help, not the 40 lines of it.
    expect(typo.stderr.trim().split('\n').length).toBeLessThanOrEqual(4)
    const command = herald(['srve'])
    expect(command.status).toBe(2)
    expect(command.stderr).toContain('Did you mean serve?')
    const subscribe = herald(['subscribe', 'news', '--jsno'])
    expect(subscribe.status).toBe(2)
    expect(subscribe.stderr).toContain('Did you mean --json?')
  })

  it('explains bad values and missing arguments, exit 2', () => {
    const negative = herald(['serve', '--port', '-1'])
    expect(negative.status).toBe(2)
    expect(negative.stderr).toContain('--port: expected an integer >= 0 and <= 65535, got "-1"')
    const level = herald(['serve', '--log-level', 'loud'])
    expect(level.stderr).toContain(
      '--log-level: expected one of trace, debug, info, warn, error, fatal, silent',
    )
    const missing = herald(['publish', 'news'])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain("missing required argument 'DATA'")
    const retry = herald(['publish', 'news', 'x', '--retry', 'soon'])
    expect(retry.status).toBe(2)
    expect(retry.stderr).toContain('--retry: expected an integer')
    const count = herald(['subscribe', 'news', '--count', '0'])
    expect(count.status).toBe(2)
    expect(count.stderr).toContain('--count: expected an integer >= 1, got "0"')
    const url = herald(['publish', 'news', 'x', '--url', 'localhost:8080'])
    expect(url.status).toBe(2)
    expect(url.stderr).toContain('--url: expected an http(s) URL')
  })

  it('serve --help shows a placeholder for every value and every level the check accepts', () => {
    const help = herald(['serve', '--help']).stdout
    for (const flag of [
      '--port <PORT>',
      '--host <HOST>',
      '--store <STORE>',
      '--jwt-secret <SECRET>',
      '--heartbeat <SECONDS>',
      '--cors-origin <ORIGIN>',
      '--max-payload <BYTES>',
      '--config <PATH>',
    ]) {
      expect(help).toContain(flag)
    }
    // Help wraps to the terminal: compare with the whitespace folded.
    const flat = help.replace(/\s+/g, ' ')
    expect(flat).toContain(
      '--log-level <LEVEL> trace | debug | info | warn | error | fatal | silent',
    )
  })

  it('subscribe exits 1 when the hub cannot be reached with --no-reconnect', async () => {
    const port = await deadPort()
    const result = herald([
      'subscribe',
      'news',
      '--url',
      `http://127.0.0.1:${port}`,
      '--no-reconnect',
    ])
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/)
    const publish = herald(['publish', 'news', 'x', '--url', `http://127.0.0.1:${port}`])
    expect(publish.status).toBe(1)
  })

  it('subscribe says when it retries, backing off', async () => {
    const port = await deadPort()
    const child = spawn(
      process.execPath,
      [HERALD_BIN, 'subscribe', 'news', '--url', `http://127.0.0.1:${port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stderr = ''
    const seen = new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d
        if (stderr.includes('(attempt 2)')) resolve()
      })
    })
    await seen
    child.kill()
    const [first, second] = stderr.trim().split('\n')
    expect(first).toMatch(/^herald subscribe: cannot reach .*ECONNREFUSED.*; retrying in 1 s$/)
    expect(second).toMatch(/; retrying in 2 s \(attempt 2\)$/)
  })
})

describe('herald serve config files and warnings', () => {
  async function payloadLimit(args: string[], env: Record<string, string> = {}) {
    const hub = await startHubProcess({ args, env })
    try {
      const post = (data: string) =>
        fetch(`${hub.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 't', data }),
        }).then((r) => r.status)
      return { ok: await post('x'.repeat(7)), tooLarge: await post('x'.repeat(8)), hub }
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  }

  it('reads YAML and TOML config files (camelCase or kebab-case keys)', async () => {
    const yaml = join(dir, 'herald.yaml')
    writeFileSync(yaml, 'store: memory\nmax-payload: 7\ncors-origin:\n  - http://localhost:5173\n')
    expect(await payloadLimit(['--config', yaml])).toMatchObject({ ok: 200, tooLarge: 413 })
    const toml = join(dir, 'herald.toml')
    writeFileSync(toml, 'store = "memory"\nmaxPayload = 7\npublishRate = 0\n')
    expect(await payloadLimit([], { HERALD_CONFIG: toml })).toMatchObject({
      ok: 200,
      tooLarge: 413,
    })
  })

  it('names the file, the key and the closest setting for a bad config file, exit 2', () => {
    const yaml = join(dir, 'typo.yml')
    writeFileSync(yaml, 'maxPayloud: 7\n')
    const typo = herald(['serve', '--config', yaml])
    expect(typo.status).toBe(2)
    expect(typo.stderr).toContain(`config file ${yaml}: unknown setting "maxPayloud"`)
    expect(typo.stderr).toContain('did you mean "maxPayload"?')
    const toml = join(dir, 'bad.toml')
    writeFileSync(toml, 'port = "eighty"\n')
    const value = herald(['serve', '--config', toml])
    expect(value.status).toBe(2)
    expect(value.stderr).toContain(`config file ${toml}: port: expected an integer >= 0`)
    const broken = join(dir, 'broken.toml')
    writeFileSync(broken, 'port = = 1\n')
    expect(herald(['serve', '--config', broken]).stderr).toContain(`config file ${broken}:`)
    const ini = join(dir, 'herald.ini')
    writeFileSync(ini, 'port=1\n')
    expect(herald(['serve', '--config', ini]).stderr).toContain('use .json, .yaml, .yml or .toml')
  })

  it('warns about a short JWT secret and an unknown HERALD_ variable, after the listen succeeded', async () => {
    const hub = await startHubProcess({
      args: ['--jwt-secret', 'S'],
      env: { HERALD_PROT: '9000', HERALD_MEMORY_REDUCER: '0' },
    })
    expect(await hub.stop()).toBe(0)
    expect(hub.stderr()).toContain('the JWT secret is shorter than 32 bytes')
    expect(hub.stderr()).toContain('ignoring unknown environment variable HERALD_PROT')
    // The memory reducer's switch is known, not a typo.
    expect(hub.stderr()).not.toContain('HERALD_MEMORY_REDUCER')
    expect(hub.stderr()).toContain('did you mean HERALD_PORT?')

    // When the port is taken, the error is all there is: no warning before it.
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const { port } = taken.address() as { port: number }
    try {
      const busy = herald(['serve', '--store', 'memory', '--port', String(port)])
      expect(busy.status).toBe(1)
      expect(busy.stderr).toMatch(/^herald serve: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/)
      expect(busy.stderr).not.toContain('no JWT key configured')
    } finally {
      taken.close()
    }
  })
})
