/**
 * Black-box: how the real `herald serve` stops on signals. The first SIGTERM/SIGINT drains
 * (every stream gets a retry hint, exit 0); a second one closes what is left at once, still
 * with the hints, and the process exits with a code, never by the signal; Ctrl-C on
 * `npm start` (SIGINT to the whole process group, as a terminal sends it) drains too.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { startHubProcess } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))

/** A raw stream: its text so far, and when it ended. */
interface RawStream {
  text(): string
  readonly ended: Promise<void>
}

/** Opens `GET /events?topic=T` without a connection pool; resolves once the headers are in. */
function openRaw(url: string, topic: string): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/events?topic=${topic}`, {
      agent: false,
      headers: { accept: 'text/event-stream' },
    })
    req.once('error', reject)
    req.once('response', (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk
      })
      const ended = new Promise<void>((done) => {
        res.once('close', () => done())
        res.once('error', () => done())
      })
      resolve({ text: () => text, ended })
    })
    req.end()
  })
}

/** Waits for `child`'s exit; resolves with `{ code, signal }`. */
function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode })
      return
    }
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('herald serve and signals', () => {
  it('a second SIGTERM during a drain closes every stream with its retry hint and exits 0, not by the signal', async () => {
    // A long drain (10 waves over 5 s of a 10 s budget): most streams are still open when the
    // second signal comes.
    const hub = await startHubProcess({ args: ['--drain-timeout', '10', '--log-level', 'info'] })
    const streams: RawStream[] = []
    for (let i = 0; i < 200; i++) streams.push(await openRaw(hub.url, 'drain'))
    const started = Date.now()
    hub.child.kill('SIGTERM')
    await waitFor(() => hub.stderr().includes('draining streams'), 'the drain to start')
    // Past the duplicate window: this is a second request, not the same one twice.
    await new Promise((resolve) => setTimeout(resolve, 600))
    const closedBefore = streams.filter((s) => /\nretry: ?\d+/.test(`\n${s.text()}`)).length
    hub.child.kill('SIGTERM')
    const exit = await exitOf(hub.child)
    const took = Date.now() - started
    expect(exit, hub.stderr()).toEqual({ code: 0, signal: null })
    await Promise.all(streams.map((s) => s.ended))
    const hinted = streams.filter((s) => /\nretry: ?\d+/.test(`\n${s.text()}`)).length
    expect(hinted).toBe(200)
    // The second signal shortened the drain: well under the 10 s budget, and it was not over
    // when the signal came.
    expect(closedBefore).toBeLessThan(200)
    expect(took).toBeLessThan(8000)
    expect(hub.stderr()).toContain('second signal: closing the remaining streams now')
  })

  it('SIGINT twice within a few milliseconds (one Ctrl-C, delivered twice) drains as one request', async () => {
    // 20 streams in 10 waves over 2 s: still draining when the copy arrives.
    const hub = await startHubProcess({ args: ['--drain-timeout', '4', '--log-level', 'info'] })
    const streams: RawStream[] = []
    for (let i = 0; i < 20; i++) streams.push(await openRaw(hub.url, 'dup'))
    hub.child.kill('SIGINT')
    // The copy a wrapper forwards comes a few milliseconds later (two signals sent back to
    // back would merge into one delivery in the kernel and prove nothing).
    await waitFor(() => hub.stderr().includes('draining streams'), 'the drain to start')
    hub.child.kill('SIGINT')
    expect(await exitOf(hub.child)).toEqual({ code: 0, signal: null })
    await Promise.all(streams.map((s) => s.ended))
    for (const stream of streams) expect(stream.text()).toMatch(/retry: ?\d+/)
    expect(hub.stderr()).not.toContain('second signal')
  })

  it('a third signal exits at once with code 1', async () => {
    const hub = await startHubProcess({ args: ['--drain-timeout', '30', '--log-level', 'info'] })
    // A stream that never reads would hold the drain; three signals end it regardless.
    const streams: RawStream[] = []
    for (let i = 0; i < 20; i++) streams.push(await openRaw(hub.url, 'third'))
    for (const message of ['draining streams', 'second signal', 'third signal']) {
      hub.child.kill('SIGTERM')
      if (message === 'third signal') break
      await waitFor(() => hub.stderr().includes(message), message)
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    const exit = await exitOf(hub.child)
    expect(exit.signal).toBeNull()
    expect([0, 1]).toContain(exit.code)
  })

  it('Ctrl-C on npm start (SIGINT to the whole process group) drains, the hub stops with 0', async () => {
    // detached: the child leads its own process group, as a terminal's foreground job does;
    // a negative pid signals the whole group, as the terminal does on Ctrl-C.
    const npm = spawn('npm', ['start', '--', '--port', '0', '--store', 'memory'], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HERALD_LOG_LEVEL: 'info', HERALD_DRAIN_TIMEOUT: '2' },
    })
    let stderr = ''
    let stdout = ''
    npm.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    npm.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    const exited = exitOf(npm)
    try {
      await waitFor(() => /herald listening on (\S+)/.test(stdout), 'the hub', 60_000)
      const url = /herald listening on (\S+)/.exec(stdout)?.[1] as string
      const stream = await openRaw(url, 'ctrl-c')
      process.kill(-(npm.pid as number), 'SIGINT')
      const exit = await exited
      await stream.ended
      expect(stream.text(), stderr).toMatch(/retry: ?\d+/)
      expect(stderr).toContain('draining streams')
      expect(stderr).not.toContain('second signal')
      // The hub itself stopped cleanly; npm then reports the Ctrl-C it got as its own end
      // (as a shell expects of a program interrupted by SIGINT) or the script's code.
      expect(stderr).toMatch(/"code":0,"msg":"stopped"/)
      expect([
        JSON.stringify({ code: 0, signal: null }),
        JSON.stringify({ code: null, signal: 'SIGINT' }),
      ]).toContain(JSON.stringify(exit))
    } finally {
      if (npm.exitCode === null && npm.signalCode === null)
        process.kill(-(npm.pid as number), 'SIGKILL')
    }
  }, 90_000)
})
