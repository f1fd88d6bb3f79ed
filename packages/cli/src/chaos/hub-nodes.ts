/**
 * The hub processes a chaos run starts, kills and restarts: one `herald serve` per node,
 * each on a port fixed for the run (a restarted node comes back where its clients left it),
 * all on one store. With `--workers N` each node is a cluster primary with N workers.
 * `--serve-command` swaps `herald serve` for any command that serves Herald's HTTP API
 * (it gets `HERALD_PORT` and `HERALD_STORE` in its environment).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { CLI_BIN } from '../bench/own-hub.js'
import { sampleProcess } from '../bench/proc-stats.js'

/** Options of {@link createHubNodes}. */
export interface HubNodesOptions {
  nodes: number
  /** The `--store` value every node gets. */
  store: string
  workers: number | undefined
  /** Replaces `herald serve` (run with `sh -c`). */
  serveCommand: string | undefined
  /** Extra `herald serve` flags. */
  serveArgs: readonly string[]
}

/** One hub node. */
export interface HubNode {
  readonly index: number
  readonly port: number
  /** Pid of the running process, `undefined` while down. */
  readonly pid: number | undefined
  readonly up: boolean
  /** What the process printed on stderr lately (for failure messages). */
  log(): string
}

/** The nodes of a run. */
export interface HubNodes {
  readonly list: readonly HubNode[]
  /** Starts every node; resolves once each accepts connections. */
  startAll(): Promise<void>
  /** SIGKILLs node `i`. */
  kill(i: number): Promise<void>
  /** Starts node `i` again on its port. */
  restart(i: number): Promise<void>
  /** SIGKILLs one worker of node `i` (with `--workers`); answers its pid. */
  killWorker(i: number): number | undefined
  /** Resident bytes of every node's process tree. */
  rssBytes(): number
  /** SIGTERM to every node, then SIGKILL after 5 s. */
  stopAll(): Promise<void>
}

/**
 * A free port below the kernel's ephemeral range. A node's port must stay free while the node
 * is down: an ephemeral port could meanwhile be taken as the source port of some outgoing
 * connection, or by a client reconnecting to it (TCP self-connect), and the restart would fail.
 */
async function stablePort(): Promise<number> {
  let low = 32768
  try {
    low =
      Number(
        readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
      ) || low
  } catch {}
  const floor = Math.min(10_000, Math.max(1024, low - 2000))
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = floor + Math.floor(Math.random() * Math.max(1, low - floor))
    const ok = await new Promise<boolean>((resolve) => {
      const server = net.createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (ok) return port
  }
  throw new Error('no free port below the ephemeral range')
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 45_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `the hub exited (${child.exitCode ?? child.signalCode}) before listening:\n${log()}`,
      )
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline)
      throw new Error(`the hub did not listen on ${port} in 45 s:\n${log()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Children of `pid` (from /proc). */
function childPids(pid: number): number[] {
  try {
    const out: number[] = []
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
        if (ppid === pid) out.push(Number(name))
      } catch {}
    }
    return out
  } catch {
    return []
  }
}

/** Prepares the nodes (nothing runs until `startAll`). */
export async function createHubNodes(options: HubNodesOptions): Promise<HubNodes> {
  const ports: number[] = []
  while (ports.length < options.nodes) {
    const port = await stablePort()
    if (!ports.includes(port)) ports.push(port)
  }
  const children: Array<ChildProcess | undefined> = ports.map(() => undefined)
  const logs: string[] = ports.map(() => '')

  const spawnNode = (i: number): ChildProcess => {
    const port = ports[i] as number
    let child: ChildProcess
    if (options.serveCommand !== undefined) {
      child = spawn('sh', ['-c', `exec ${options.serveCommand}`], {
        env: { ...process.env, HERALD_PORT: String(port), HERALD_STORE: options.store },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    } else {
      const args = [
        CLI_BIN,
        'serve',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--store',
        options.store,
        '--heartbeat',
        '1',
        '--publish-rate',
        '0',
        '--log-level',
        'warn',
        ...(options.workers === undefined ? [] : ['--workers', String(options.workers)]),
        ...options.serveArgs,
      ]
      child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    }
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      logs[i] = (logs[i] + chunk).slice(-8000)
    })
    children[i] = child
    return child
  }

  const start = async (i: number) => {
    const child = spawnNode(i)
    await waitForPort(ports[i] as number, child, () => logs[i] ?? '')
  }

  const stop = (i: number, signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      const child = children[i]
      children[i] = undefined
      if (child === undefined || child.exitCode !== null || child.signalCode !== null)
        return resolve()
      child.once('exit', () => resolve())
      child.kill(signal)
      if (signal !== 'SIGKILL') setTimeout(() => child.kill('SIGKILL'), 5000).unref()
    })

  const list: HubNode[] = ports.map((port, index) => ({
    index,
    port,
    get pid() {
      return children[index]?.pid
    },
    get up() {
      const c = children[index]
      return c !== undefined && c.exitCode === null && c.signalCode === null
    },
    log: () => logs[index] ?? '',
  }))

  return {
    list,
    startAll: () => Promise.all(ports.map((_, i) => start(i))).then(() => {}),
    async kill(i) {
      // The whole tree: with --workers, SIGKILL of a primary alone would orphan its workers.
      const pid = children[i]?.pid
      const workers = pid === undefined ? [] : childPids(pid)
      await stop(i, 'SIGKILL')
      for (const w of workers) {
        try {
          process.kill(w, 'SIGKILL')
        } catch {}
      }
    },
    restart: (i) => start(i),
    killWorker(i) {
      const pid = children[i]?.pid
      if (pid === undefined) return undefined
      const workers = childPids(pid)
      const victim = workers[Math.floor(Math.random() * workers.length)]
      if (victim === undefined) return undefined
      try {
        process.kill(victim, 'SIGKILL')
      } catch {
        return undefined
      }
      return victim
    },
    rssBytes() {
      let total = 0
      for (const child of children) {
        if (child?.pid !== undefined) total += sampleProcess(child.pid)?.rssBytes ?? 0
      }
      return total
    },
    stopAll: () => Promise.all(ports.map((_, i) => stop(i, 'SIGTERM'))).then(() => {}),
  }
}
