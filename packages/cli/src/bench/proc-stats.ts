/**
 * CPU and memory of a server process (and its children: `--workers` runs several) from
 * Linux's /proc. Elsewhere every figure is `undefined`.
 */
import { readdirSync, readFileSync } from 'node:fs'

const CLK_TCK = 100

/** CPU seconds (user + system) and resident bytes of a process tree. */
export interface ProcSample {
  cpuSeconds: number
  rssBytes: number
  processes: number
}

function stat(pid: number): { ppid: number; cpu: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK }
  } catch {
    return undefined
  }
}

function rss(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return Number(match?.[1] ?? 0) * 1024
  } catch {
    return 0
  }
}

/** `pid` and every descendant, found by walking /proc once. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>()
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return [pid]
  }
  for (const name of entries) {
    const child = Number(name)
    if (!Number.isInteger(child)) continue
    const s = stat(child)
    if (s === undefined) continue
    const list = children.get(s.ppid) ?? []
    list.push(child)
    children.set(s.ppid, list)
  }
  const out = [pid]
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i] as number) ?? []))
  return out
}

/** Samples a process tree; `undefined` when `pid` does not exist (or no /proc). */
export function sampleProcess(pid: number): ProcSample | undefined {
  if (stat(pid) === undefined) return undefined
  let cpuSeconds = 0
  let rssBytes = 0
  const pids = tree(pid)
  for (const p of pids) {
    cpuSeconds += stat(p)?.cpu ?? 0
    rssBytes += rss(p)
  }
  return { cpuSeconds, rssBytes, processes: pids.length }
}
