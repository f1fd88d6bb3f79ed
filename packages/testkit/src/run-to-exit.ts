/**
 * Runs a program to its exit, for tests that run another runtime (Bun, Deno, other Nodes) on a
 * script of ours and read what it printed.
 */
import { spawn } from 'node:child_process'

/** Options of {@link runToExit}. */
export interface RunToExitOptions {
  /** Working directory. */
  cwd?: string
  /** Killed (SIGKILL) after this many ms if still running. Default: never. */
  killAfterMs?: number
}

/**
 * Runs `bin` with `args` (environment: this process's, plus `NO_COLOR=1` and
 * `DENO_NO_UPDATE_CHECK=1`) and resolves with its exit code and everything it wrote to stdout
 * and stderr, interleaved as it came.
 */
export function runToExit(
  bin: string,
  args: readonly string[],
  options: RunToExitOptions = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    const collect = (chunk: string): void => {
      out += chunk
    }
    child.stdout.setEncoding('utf8').on('data', collect)
    child.stderr.setEncoding('utf8').on('data', collect)
    const timer =
      options.killAfterMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs)
    child.on('close', (code) => {
      if (timer !== undefined) clearTimeout(timer)
      resolve({ code, out })
    })
  })
}
