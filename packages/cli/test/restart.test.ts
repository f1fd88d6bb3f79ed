/**
 * Black-box: the SQLite log across restarts of the real `herald serve`: SIGTERM drains and
 * exits 0, ids are never reused, a cursor from before the restart replays across it, and
 * acknowledged publishes survive a crash (SIGKILL), two hubs share one file.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-restart-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function publish(url: string, topic: string, data: string): Promise<string> {
  const response = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic, data }),
  })
  expect(response.status).toBe(200)
  return ((await response.json()) as { id: string }).id
}

describe('SQLite log across restarts', () => {
  it('drains on SIGTERM (exit 0), never reuses ids, replays across the restart', async () => {
    const store = `sqlite:${join(dir, 'a', 'herald.db')}`
    const first = await startHubProcess({ args: ['--store', store] })
    const before: string[] = []
    for (let i = 0; i < 5; i++) before.push(await publish(first.url, 'news', `before-${i}`))
    const live = await openEventStream(`${first.url}/events?topic=news`)
    const lastBefore = await publish(first.url, 'news', 'before-5')
    before.push(lastBefore)
    await live.count(1)
    expect(await first.stop('SIGTERM')).toBe(0)
    await live.ended

    const second = await startHubProcess({ args: ['--store', store] })
    try {
      const after: string[] = []
      for (let i = 0; i < 3; i++) after.push(await publish(second.url, 'news', `after-${i}`))
      for (const id of after) expect(id > lastBefore, `${id} > ${lastBefore}`).toBe(true)
      expect(new Set([...before, ...after]).size).toBe(before.length + after.length)
      const replay = await openEventStream(`${second.url}/events?topic=news`, {
        'last-event-id': before[1] as string,
      })
      const events = await replay.count(7)
      expect(events.map((e) => e.data)).toEqual([
        'before-2',
        'before-3',
        'before-4',
        'before-5',
        'after-0',
        'after-1',
        'after-2',
      ])
      expect(events.map((e) => e.lastEventId)).toEqual([...before.slice(2), ...after])
      replay.close()
    } finally {
      expect(await second.stop()).toBe(0)
    }
  })

  it('keeps acknowledged publishes after a crash (SIGKILL)', async () => {
    const store = `sqlite:${join(dir, 'b', 'herald.db')}`
    const first = await startHubProcess({ args: ['--store', store] })
    const ids: string[] = []
    for (let i = 0; i < 20; i++) ids.push(await publish(first.url, 'crash', String(i)))
    expect(await first.stop('SIGKILL')).toBe('SIGKILL')
    const second = await startHubProcess({ args: ['--store', store] })
    try {
      const replay = await openEventStream(`${second.url}/events?topic=crash&lastEventId=0`)
      expect((await replay.count(20)).map((e) => e.lastEventId)).toEqual(ids)
      replay.close()
      const next = await publish(second.url, 'crash', 'next')
      expect(next > (ids.at(-1) as string)).toBe(true)
    } finally {
      expect(await second.stop()).toBe(0)
    }
  })

  it('lets two hubs share one file: one log, delivered on both, one cursor for both', async () => {
    const store = `sqlite:${join(dir, 'c', 'herald.db')}`
    const first = await startHubProcess({ args: ['--store', store] })
    const second = await startHubProcess({ args: ['--store', store] })
    try {
      const onSecond = await openEventStream(`${second.url}/events?topic=shared`)
      const a = await publish(first.url, 'shared', 'from-first')
      const b = await publish(second.url, 'shared', 'from-second')
      expect(b > a).toBe(true)
      expect((await onSecond.count(2)).map((e) => e.data)).toEqual(['from-first', 'from-second'])
      onSecond.close()
      const resumed = await openEventStream(`${first.url}/events?topic=shared`, {
        'last-event-id': a,
      })
      expect((await resumed.count(1)).map((e) => e.lastEventId)).toEqual([b])
      resumed.close()
    } finally {
      expect(await second.stop()).toBe(0)
      expect(await first.stop()).toBe(0)
    }
  })
})
