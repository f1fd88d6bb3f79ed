import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EventStore, StoredEvent } from '@herald/store'
import { createSqliteEventStore } from '@herald/store-sqlite'
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

// Group commit, counted without a wall clock: the hold's timer and the policy's clock
// (`performance.now`) are vitest's fake timers, event-loop turns (`setImmediate`) are real, and
// the store's `now` counts its calls: every write transaction reads it once, so the events of
// one transaction share one `publishedAt` and the number of distinct ones counts transactions.

const dir = mkdtempSync(join(tmpdir(), 'herald-group-commit-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
})
afterEach(() => {
  vi.useRealTimers()
})

function open(options: { groupCommitMs?: number } = {}): EventStore {
  let clock = 0
  return createSqliteEventStore({
    path: join(dir, `${n++}.db`),
    now: () => ++clock,
    pruneIntervalMs: 0,
    pollIntervalMs: 0,
    ...options,
  })
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Whether `promise` settles within `turns` real event-loop turns (no fake time passes). */
async function settlesWithin(promise: Promise<unknown>, turns = 4): Promise<boolean> {
  let settled = false
  promise.then(
    () => {
      settled = true
    },
    () => {
      settled = true
    },
  )
  for (let i = 0; i < turns && !settled; i++) await turn()
  return settled
}

/** Appends events `1` to `count`, one every two event-loop turns; their (pending) answers. */
async function appendOverTurns(
  store: EventStore,
  count: number,
): Promise<Promise<StoredEvent[]>[]> {
  const appends: Promise<StoredEvent[]>[] = []
  for (let i = 1; i <= count; i++) {
    appends.push(store.append([{ topic: 't', data: String(i) }]))
    await turn()
    await turn()
  }
  return appends
}

const transactions = (events: readonly StoredEvent[]): number =>
  new Set(events.map((event) => event.publishedAt)).size

describe('SQLite store group commit', () => {
  it('writes publishes arriving back to back over several turns in ONE transaction', async () => {
    const store = open()
    // The first append of an idle store commits at once.
    await store.append([{ topic: 't', data: '0' }])
    const appends = await appendOverTurns(store, 5)
    // Held: not one is committed (nor answered) yet, five turns later.
    expect(await settlesWithin(Promise.race(appends))).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    const events = (await Promise.all(appends)).flat()
    expect(events.map((event) => event.data)).toEqual(['1', '2', '3', '4', '5'])
    expect(transactions(events)).toBe(1)
    await store.close()
  })

  it('with groupCommitMs 0, writes each turn in its own transaction', async () => {
    const store = open({ groupCommitMs: 0 })
    await store.append([{ topic: 't', data: '0' }])
    const appends = await appendOverTurns(store, 5)
    const events = (await Promise.all(appends)).flat()
    expect(transactions(events)).toBe(5)
    await store.close()
  })

  it('commits at once after an idle spell', async () => {
    const store = open()
    await store.append([{ topic: 't', data: '0' }])
    await vi.advanceTimersByTimeAsync(5)
    expect(await settlesWithin(store.append([{ topic: 't', data: '1' }]))).toBe(true)
    await store.close()
  })

  it('commits a held batch at once when it holds 32 rows', async () => {
    const store = open()
    await store.append([{ topic: 't', data: '0' }])
    const first = store.append([{ topic: 't', data: '1' }])
    await turn()
    const rest = store.append(Array.from({ length: 31 }, (_, i) => ({ topic: 't', data: `r${i}` })))
    expect(await settlesWithin(Promise.all([first, rest]))).toBe(true)
    expect(transactions([...(await first), ...(await rest)])).toBe(1)
    await store.close()
  })

  it('stops holding for a publisher that awaits each answer (backed off 16 batches, then 32)', async () => {
    const store = open()
    await store.append([{ topic: 't', data: '0' }])
    /** Appends one event; whether it was held (needed the hold's timer to commit). */
    const held = async (): Promise<boolean> => {
      const append = store.append([{ topic: 't', data: 'x' }])
      if (await settlesWithin(append)) return false
      await vi.advanceTimersByTimeAsync(1)
      await append
      return true
    }
    const pattern: boolean[] = []
    for (let i = 0; i < 1 + 16 + 1 + 32 + 1; i++) pattern.push(await held())
    const expected = [true, ...Array(16).fill(false), true, ...Array(32).fill(false), true]
    expect(pattern).toEqual(expected)
    await store.close()
  })
})
