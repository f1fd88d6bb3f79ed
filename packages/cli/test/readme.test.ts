/**
 * The README's quick start, run as written: every `sh` block of that section is extracted
 * from README.md and executed with bash in the checkout. The only changes: `npm start` gets
 * `--port 0 --store memory` appended (a free port, nothing written to ./herald-data), the
 * hub's address replaces `http://127.0.0.1:8080` (and is HERALD_URL for the CLI), `npm ci`
 * is skipped (this suite runs inside it), and after a command sent to the background with
 * `&` the script waits until the hub counts the subscriber, and before a `kill` it waits a
 * second (a person types slower than a script runs).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')

/** The `sh` blocks of the Quick start section, as lists of commands (continuations joined). */
function quickStartBlocks(): string[][] {
  const start = readme.indexOf('## Quick start')
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end === -1 ? undefined : end)
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) =>
    (match[1] as string)
      .replace(/\\\n\s*/g, '')
      .split('\n')
      .filter((line) => line.trim() !== ''),
  )
}

/**
 * A command without its trailing `# comment`: a `#` that starts a word outside quotes, as
 * bash reads it. (The comment may itself hold quotes: `... &   # prints {"id":"..."}`. A
 * pattern that gave up on those left the comment on, so `endsWith('&')` missed the CLI
 * block's background subscriber, no wait for it was inserted, and the publish raced the
 * subscriber's `npx` start: a live-only subscriber that connected second never got its one
 * event, and `wait` hung until the block's timeout.)
 */
function command(line: string): string {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++
      else if (c === quote) quote = undefined
    } else if (c === '\\') i++
    else if (c === "'" || c === '"') quote = c
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1] as string))) {
      return line.slice(0, i).trim()
    }
  }
  return line.trim()
}

interface Hub {
  url: string
  child: ChildProcess
  stderr(): string
}

let hub: Hub | undefined

async function startHub(line: string): Promise<Hub> {
  const args = command(line).includes(' -- ')
    ? ' --port 0 --store memory'
    : ' -- --port 0 --store memory'
  const child = spawn('bash', ['-c', `${command(line)}${args}`], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HERALD_LOG_LEVEL: 'info' },
  })
  let stdout = ''
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no hub; stderr: ${stderr}`)), 60_000)
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
      const match = /herald listening on (\S+)/.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    })
    child.once('exit', () => reject(new Error(`the hub exited; stderr: ${stderr}`)))
  })
  return { url, child, stderr: () => stderr }
}

/** Ctrl-C, as a terminal sends it: SIGINT to the process group. Resolves once it is gone. */
async function stopHub(running: Hub): Promise<void> {
  const exited = new Promise((resolve) => running.child.once('exit', resolve))
  process.kill(-(running.child.pid as number), 'SIGINT')
  await exited
  expect(running.stderr()).toMatch(/"code":0,"msg":"stopped"/)
}

afterAll(async () => {
  if (hub !== undefined && hub.child.exitCode === null && hub.child.signalCode === null) {
    await stopHub(hub)
  }
})

/** Runs a block's commands as one bash script against `url`. */
function runBlock(lines: string[], url: string) {
  // Streams the hub opened so far: a counter, so a stream closing meanwhile cannot hide a new
  // one (a gauge of subscribers could stay put).
  const count = `curl -s ${url}/metrics | awk '/^herald_sessions_opened_total / { n = $2 } END { print n + 0 }'`
  const before = `__before=$(${count})`
  // Bounded (30 s): a subscriber that never connects fails the block's own checks instead of
  // spinning until the block's timeout.
  const wait = `for __i in $(seq 600); do [ "$(${count})" -gt "$__before" ] && break; sleep 0.05; done`
  const script = lines
    .map((line) => command(line).replaceAll('http://127.0.0.1:8080', url))
    .flatMap((line) =>
      line.endsWith('&')
        ? [before, line, wait]
        : // A person reads the output before stopping the subscriber: give the last event the
          // moment it needs to reach the background process's stdout.
          line.startsWith('kill ')
          ? ['sleep 1', line]
          : [line],
    )
    .join('\n')
  const result = spawnSync('bash', ['-c', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, HERALD_URL: url },
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('README quick start', () => {
  it('reads each line as bash does: the comment goes, quotes in it included', () => {
    expect(command(`npx herald subscribe news --json --count 1 &   # prints {"id":"..."}`)).toBe(
      'npx herald subscribe news --json --count 1 &',
    )
    expect(command(`npx herald publish news '{"a":"#b"}' --json   # prints the id`)).toBe(
      `npx herald publish news '{"a":"#b"}' --json`,
    )
    expect(command('curl -s "http://h/x#y" -d a#b')).toBe('curl -s "http://h/x#y" -d a#b')
  })

  it('runs every command as written', { timeout: 400_000 }, async () => {
    const blocks = quickStartBlocks()
    // A new block needs its expectations here: no untested command in the quick start.
    expect(blocks.length).toBe(5)
    const [setup, curl, cli, authHub, token] = blocks as [
      string[],
      string[],
      string[],
      string[],
      string[],
    ]
    // Each block's subscriber goes to the background, and is waited for before the publish.
    expect(curl.map(command).filter((c) => c.endsWith('&'))).toHaveLength(1)
    expect(cli.map(command).filter((c) => c.endsWith('&'))).toHaveLength(1)

    expect(setup.map(command)).toEqual(['npm ci', 'npm start'])
    hub = await startHub(setup[1] as string)

    const viaCurl = runBlock(curl, hub.url)
    expect(viaCurl.status, viaCurl.stderr).toBe(0)
    expect(viaCurl.stdout).toContain('data: {"hello":"world"}')
    expect(viaCurl.stdout).toMatch(/\{"id":"[^"]+"/)

    const viaCli = runBlock(cli, hub.url)
    expect(
      viaCli.status,
      `${viaCli.stderr}\nstdout: ${viaCli.stdout}\nhub: ${hub.stderr().slice(-2000)}`,
    ).toBe(0)
    const lines = viaCli.stdout.trim().split('\n')
    const event = lines.find((l) => l.startsWith('{'))
    const id = lines.find((l) => !l.startsWith('{'))
    expect(JSON.parse(event ?? 'null')).toEqual({
      id,
      type: 'message',
      data: { hello: 'world' },
    })

    await stopHub(hub)
    expect(authHub.map(command)).toHaveLength(1)
    expect(authHub[0]).toMatch(/^HERALD_JWT_SECRET=\S{32,} npm start$/)
    hub = await startHub(authHub[0] as string)
    expect(hub.stderr()).not.toContain('shorter than 32 bytes')
    const withToken = runBlock(token, hub.url)
    // The last command publishes without a token: refused, exit 1.
    expect(withToken.status).toBe(1)
    expect(withToken.stdout.trim()).toMatch(/^\S+$/)
    expect(withToken.stderr).toContain('401 HERALD_UNAUTHORIZED')
    await stopHub(hub)
  })
})
