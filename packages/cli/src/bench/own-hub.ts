/**
 * `herald bench` without `--url`: starts this CLI's own `herald serve` in a child process
 * (a separate process, so the hub's CPU and memory are measured on their own), on a free
 * port, without the publish rate limit, and stops it with SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Path of the CLI entry point next to this module (dist/bin.js). */
export const CLI_BIN = fileURLToPath(new URL('../bin.js', import.meta.url))

/** A hub started by the benchmark. */
export interface OwnHub {
  url: URL
  pid: number
  child: ChildProcess
  stop(): Promise<void>
}

/**
 * Starts `herald serve --port 0 --store STORE`. `store` `sqlite` (default) puts the database
 * in a fresh temporary directory, removed on stop.
 */
export async function startOwnHub(
  store: string,
  extraArgs: readonly string[] = [],
): Promise<OwnHub> {
  let dir: string | undefined
  let storeArg = store
  if (store === 'sqlite') {
    dir = mkdtempSync(join(os.tmpdir(), 'herald-bench-'))
    storeArg = `sqlite:${join(dir, 'herald.db')}`
  }
  const child = spawn(
    process.execPath,
    [
      CLI_BIN,
      'serve',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--store',
      storeArg,
      '--publish-rate',
      '0',
      '--log-level',
      'warn',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<URL>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`herald serve did not start; stderr:\n${err}`))
    }, 20_000)
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = /herald listening on (\S+)/.exec(out)
      if (match === null) return
      clearTimeout(timer)
      resolve(new URL(match[1] as string))
    })
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`herald serve exited before listening; stderr:\n${err}`))
    })
  })
  return {
    url,
    pid: child.pid as number,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    },
  }
}
