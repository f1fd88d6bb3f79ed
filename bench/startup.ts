/**
 * `npx tsx bench/startup.ts TREE [TREE...]`: how fast `herald serve` starts and how big it is
 * once started, for one or more built checkouts, interleaved (5 rounds).
 *
 * Each round spawns every tree's `herald` executable (packages/cli/bin/herald.js: the Node
 * flags users get) with a fresh SQLite file, times it from spawn to its `listening` line, and
 * reads its VmRSS 3 s later (after start-up's own garbage is collected). Prints, per tree,
 * every time and RSS and the median time. Environment: BENCH_ROUNDS (5).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const trees = process.argv.slice(2).map((tree) => resolve(tree))
if (trees.length === 0) {
  console.error('usage: npx tsx bench/startup.ts TREE [TREE...] (built checkouts)')
  process.exit(2)
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

async function startOnce(tree: string): Promise<{ ms: number; rssMiB: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-startup-'))
  const started = performance.now()
  const child = spawn(
    join(tree, 'packages/cli/bin/herald.js'),
    ['serve', '--port', '0', '--store', `sqlite:${dir}/hub.db`, '--log-level', 'error'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  try {
    const ms = await new Promise<number>((done, fail) => {
      let out = ''
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('listening')) done(performance.now() - started)
      })
      child.once('exit', (code) => fail(new Error(`${tree}: herald serve exited (${code})`)))
    })
    await sleep(3000)
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024
    return { ms, rssMiB }
  } finally {
    const exited = new Promise((done) => child.once('exit', done))
    child.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
}

const results = new Map(trees.map((tree) => [tree, [] as { ms: number; rssMiB: number }[]]))
for (let round = 0; round < rounds; round++) {
  for (const tree of trees) results.get(tree)?.push(await startOnce(tree))
}
for (const [tree, runs] of results) {
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b)
  const rss = runs.map((r) => r.rssMiB).sort((a, b) => a - b)
  console.log(
    `${tree}: spawn to listening ${ms.map((v) => v.toFixed(0)).join(' ')} ms (median ${(ms[Math.floor(ms.length / 2)] ?? Number.NaN).toFixed(0)}); RSS at +3 s ${rss.map((v) => v.toFixed(1)).join(' ')} MiB`,
  )
}
