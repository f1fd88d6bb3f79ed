import { createStreamServer } from '@herald/server'
import type { StoredEvent } from '@herald/store'
import { afterEach, describe, expect, it } from 'vitest'
import type { FanOut } from './fan-out.js'
import { createMemoryEventStore } from './memory-store.js'
import { type NodeTail, startNodeTail } from './node-tail.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }
let tail: NodeTail | undefined
afterEach(async () => {
  await tail?.stop()
  tail = undefined
})

/** Polls once per event-loop turn, up to 100 000 turns (no clock). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (condition()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`never: ${what}`)
}

describe('startNodeTail beforeRead', () => {
  it('reads nothing while beforeRead waits, then takes every event appended meanwhile in one batch', async () => {
    const store = createMemoryEventStore()
    const batches: string[][] = []
    const fanOut = {
      dispatch(events: readonly StoredEvent[]) {
        batches.push(events.map((e) => e.data))
      },
    } as unknown as FanOut
    let open: (() => void) | undefined
    let waits = 0
    tail = startNodeTail({
      store,
      fanOut,
      streams: createStreamServer(),
      logger: silent,
      beforeRead: () => {
        waits++
        return new Promise<void>((resolve) => {
          open = resolve
        })
      },
    })
    expect(await tail.whenPositioned(60_000)).toBe(true)
    await store.append([{ topic: 't', data: 'e1' }])
    await until(() => batches.length === 1 && waits === 1, 'the first batch')
    expect(batches[0]).toEqual(['e1'])
    for (const data of ['e2', 'e3', 'e4']) await store.append([{ topic: 't', data }])
    // The tail waits: however many turns pass, no read, no batch.
    for (let i = 0; i < 200; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(batches.length).toBe(1)
    open?.()
    await until(() => batches.length === 2, 'the second batch')
    expect(batches[1]).toEqual(['e2', 'e3', 'e4'])
    open?.()
  })
})
