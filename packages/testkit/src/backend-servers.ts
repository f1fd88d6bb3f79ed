/**
 * Private `redis-server` and `nats-server` processes on free loopback ports, for tests that
 * cut, stop, slow down or restart the backend: they never touch the shared servers on 6379
 * and 4222. Each keeps its data in its own temporary directory, so a restart finds it again
 * (Redis with an append-only file, NATS with its JetStream store) unless told otherwise.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A backend server process the test owns. */
export interface BackendServer {
  /** `redis://127.0.0.1:PORT` or `nats://127.0.0.1:PORT`. */
  readonly url: string
  readonly port: number
  /** Stops it (SIGTERM, or SIGKILL for a crash) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>
  /** Freezes it (SIGSTOP): connections stay open, nothing answers. */
  pause(): void
  /** Unfreezes it (SIGCONT). */
  resume(): void
  /** Stops it and removes its data. */
  dispose(): Promise<void>
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
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

function launch(
  command: string,
  args: readonly string[],
  ready: RegExp,
  timeoutMs = 10_000,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} did not start in time:\n${output}`))
    }, timeoutMs)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      if (ready.test(output)) {
        clearTimeout(timer)
        child.stdout?.removeListener('data', onData)
        child.stderr?.removeListener('data', onData)
        // Keep draining so a chatty server never blocks on a full pipe.
        child.stdout?.resume()
        child.stderr?.resume()
        resolve(child)
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited (${code}) before it was ready:\n${output}`))
    })
  })
}

function managed(
  url: string,
  port: number,
  dir: string,
  spawnIt: () => Promise<ChildProcess>,
): Promise<BackendServer> {
  let child: ChildProcess | undefined
  const server: BackendServer = {
    url,
    port,
    async start() {
      child = await spawnIt()
    },
    async stop(signal = 'SIGTERM') {
      const c = child
      child = undefined
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
      c.kill('SIGCONT')
      c.kill(signal)
      await exited
    },
    pause() {
      child?.kill('SIGSTOP')
    },
    resume() {
      child?.kill('SIGCONT')
    },
    async dispose() {
      await server.stop('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return server.start().then(() => server)
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** `aof` (default): appendfsync always, a restart keeps everything; `none`: comes back empty. */
  persistence?: 'aof' | 'none'
}

/** Starts a private `redis-server` on a free loopback port. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<BackendServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'herald-redis-'))
  const aof = (options.persistence ?? 'aof') === 'aof'
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    aof ? 'yes' : 'no',
    '--appendfsync',
    'always',
  ]
  return managed(`redis://127.0.0.1:${port}`, port, dir, () =>
    launch('redis-server', args, /Ready to accept connections/),
  )
}

/** Starts a private `nats-server -js` on a free loopback port. */
export async function startNatsServer(): Promise<BackendServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'herald-nats-'))
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir]
  return managed(`nats://127.0.0.1:${port}`, port, dir, () =>
    launch('nats-server', args, /Server is ready/),
  )
}
