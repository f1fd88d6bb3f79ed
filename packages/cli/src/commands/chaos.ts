/**
 * `herald chaos`: wiring only (flags to options, output, exit code); the engine is
 * ../chaos/run-chaos.ts.
 */
import { writeFileSync } from 'node:fs'
import { FAULT_KINDS, type FaultKind } from '../chaos/faults.js'
import { chaosJson, formatChaos } from '../chaos/format.js'
import { renderChaosReport } from '../chaos/report.js'
import { type ChaosOptions, runChaos } from '../chaos/run-chaos.js'
import { parseCommandArgs } from './args.js'

export const chaosUsage = `Usage: herald chaos [--store sqlite:PATH | redis://... | nats://...] [--workers N] --duration SECONDS [options]

Starts its own hub processes, puts a TCP fault proxy in front of them, subscribes with
@herald/client and publishes sequence-numbered events while injecting faults in turn:
connections cut, latency, a bandwidth cap, stalls, half-closes, the hub SIGKILLed and
restarted (with --workers: a worker killed; with Redis/NATS: the broker connection cut and
nodes killed in turn). Then checks every subscriber against the exact published sequence.
Exit 0: nothing lost, duplicated or reordered and the hub's memory came back; 1 otherwise;
2: usage error.

Options:
  --store STORE          sqlite (a temporary file, default) | sqlite:PATH | redis://HOST:PORT | nats://HOST:PORT
  --workers N            run every node with herald serve --workers N
  --nodes N              hub nodes (default 1; 3 with Redis or NATS)
  --duration SECONDS     soak length (default 60, at least 15)
  --subscribers N        @herald/client subscribers (default 40)
  --rate N               events per second (default 20)
  --payload BYTES        bytes of event data (default 64)
  --faults LIST          comma-separated, in turn: ${FAULT_KINDS.join(' ')}
  --hold SECONDS         how long a held fault lasts (default: fits the duration)
  --serve-command CMD    run CMD instead of herald serve (it gets HERALD_PORT, HERALD_STORE)
  --json                 print one JSON object (last line) instead of the verdict table
  --report FILE.html     write a self-contained HTML report`

function int(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const v = Number(value)
  if (!Number.isInteger(v) || v < min)
    throw new TypeError(`--${name} must be an integer >= ${min}, not ${JSON.stringify(value)}`)
  return v
}

function num(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const v = Number(value)
  if (value.trim() === '' || !Number.isFinite(v) || v < min)
    throw new TypeError(`--${name} must be a number >= ${min}, not ${JSON.stringify(value)}`)
  return v
}

/** Runs `herald chaos`. Resolves to the exit code. */
export async function runChaosCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream & { isTTY?: boolean } },
): Promise<number> {
  const args = parseCommandArgs(
    'chaos',
    chaosUsage,
    {
      args: argv,
      strict: true,
      options: {
        store: { type: 'string' },
        workers: { type: 'string' },
        nodes: { type: 'string' },
        duration: { type: 'string' },
        subscribers: { type: 'string' },
        rate: { type: 'string' },
        payload: { type: 'string' },
        faults: { type: 'string' },
        hold: { type: 'string' },
        'serve-command': { type: 'string' },
        json: { type: 'boolean' },
        report: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    io,
  )
  if (args.parsed === undefined) return args.exitCode
  const v = args.parsed.values
  let options: ChaosOptions
  try {
    const store = v.store ?? 'sqlite'
    if (!/^(sqlite(:.+)?|memory|redis:\/\/.+|rediss:\/\/.+|nats:\/\/.+)$/.test(store))
      throw new TypeError(
        `--store: expected sqlite, sqlite:PATH, memory, redis://... or nats://..., not ${JSON.stringify(store)}`,
      )
    const broker = /^(redis|rediss|nats):/.test(store)
    let faults: FaultKind[] | undefined
    if (v.faults !== undefined) {
      faults = v.faults
        .split(',')
        .map((f) => f.trim())
        .filter(Boolean) as FaultKind[]
      const bad = faults.find((f) => !(FAULT_KINDS as readonly string[]).includes(f))
      if (bad !== undefined)
        throw new TypeError(
          `--faults: unknown fault ${JSON.stringify(bad)} (known: ${FAULT_KINDS.join(', ')})`,
        )
      if (faults.length === 0) throw new TypeError('--faults: name at least one fault')
    }
    const workers = v.workers === undefined ? undefined : int('workers', v.workers, 1, 1)
    const nodes = v.nodes === undefined ? undefined : int('nodes', v.nodes, 1, 1)
    if (nodes !== undefined && nodes > 1 && !broker)
      throw new TypeError('--nodes > 1 needs a shared store (redis:// or nats://)')
    if (faults?.includes('worker-kill') && workers === undefined)
      throw new TypeError('--faults worker-kill needs --workers')
    if (faults?.some((f) => f === 'broker-cut' || f === 'node-kill') && !broker)
      throw new TypeError('--faults broker-cut and node-kill need a redis:// or nats:// store')
    if (v.report !== undefined && !v.report.endsWith('.html'))
      throw new TypeError('--report names an .html file')
    options = {
      store,
      workers,
      nodes,
      duration: num('duration', v.duration, 60, 15),
      subscribers: int('subscribers', v.subscribers, 40, 1),
      rate: num('rate', v.rate, 20, 0.1),
      payload: int('payload', v.payload, 64, 0),
      faults,
      hold: v.hold === undefined ? undefined : num('hold', v.hold, 2, 0.1),
      serveCommand: v['serve-command'],
    }
  } catch (error) {
    io.stderr.write(`herald chaos: ${(error as Error).message}\n\n${chaosUsage}\n`)
    return 2
  }
  if (v.json !== true)
    options.onProgress = (line) => {
      if (io.stderr.isTTY === true) io.stderr.write(`\r\x1b[2K  ${line}`)
    }
  const result = await runChaos(options)
  if (io.stderr.isTTY === true && v.json !== true) io.stderr.write('\r\x1b[2K')
  if (v.report !== undefined) writeFileSync(v.report, renderChaosReport(result))
  if (v.json === true) io.stdout.write(`${JSON.stringify(chaosJson(result))}\n`)
  else io.stdout.write(formatChaos(result))
  return result.ok ? 0 : 1
}
