/**
 * Starts the REAL `herald serve` (packages/cli/dist/bin.js) as a child process, for
 * black-box tests: waits for its `herald listening on URL` line, and stops it by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * Path of the built CLI entry point; `HERALD_TEST_BIN` overrides it (to run a black-box
 * suite against another build, e.g. the previous release, and see it fail).
 */
export const HERALD_BIN =
  process.env.HERALD_TEST_BIN ?? fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url))

/** Options of {@link startHubProcess}. */
export interface HubProcessOptions {
  /** Extra `herald serve` arguments (`--port 0` and `--store memory` are defaults). */
  args?: readonly string[]
  /** Extra environment variables. */
  env?: Readonly<Record<string, string>>
  /** Working directory. */
  cwd?: string
  /** How long to wait for the listening line. Default 15 s. */
  timeoutMs?: number
}

/** A running hub process. */
export interface HubProcess {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** The child process. */
  readonly child: ChildProcess
  /** Everything written to stderr so far (logs). */
  stderr(): string
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>
}

/**
 * Spawns `node packages/cli/dist/bin.js serve --port 0 --store memory ...args`.
 * Rejects if the process exits or stays silent before printing its URL.
 */
export function startHubProcess(options: HubProcessOptions = {}): Promise<HubProcess> {
  const args = [HERALD_BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn']
  const extra = options.args ?? []
  if (!extra.includes('--store')) args.push('--store', 'memory')
  args.push(...extra)
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk
  })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))
  })
  return new Promise<HubProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`herald serve did not start in time; stderr:\n${err}`))
    }, options.timeoutMs ?? 15_000)
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = /herald listening on (\S+)/.exec(out)
      if (match === null) return
      clearTimeout(timer)
      const url = match[1] as string
      resolve({
        url,
        child,
        stderr: () => err,
        exited,
        async stop(signal = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          return exited
        },
      })
    })
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`herald serve exited (${code}) before listening; stderr:\n${err}`))
    })
  })
}

/** What {@link runHerald} collected from one CLI process. */
export interface HeraldRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the `herald` CLI (`HERALD_BIN`) with `args` to its exit, collecting its output. */
export function runHerald(args: readonly string[]): Promise<HeraldRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HERALD_BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}
