/**
 * Black-box: one log, many processes. Two `herald serve` on ONE SQLite file, and
 * `herald serve --workers 2`: subscribers spread over them, thousands of events published
 * concurrently through all of them; every subscriber gets every event exactly once, in id
 * order. Subscribers that drop (or whose worker is killed) resume with Last-Event-ID on
 * another process and get exactly what they missed. Mercure multi-topic updates are one
 * event. SIGTERM drains every worker; /metrics adds the workers up.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { HubProcess } from '@herald/testkit'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { afterAll, afterEach, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-many-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const running: HubProcess[] = []
afterEach(async () => {
  for (const hub of running.splice(0)) await hub.stop('SIGKILL')
})

const EVENTS = 5000
const BATCH = 5
const SUBSCRIBERS = 20

async function serve(args: string[]): Promise<HubProcess> {
  const hub = await startHubProcess({
    args: ['--publish-rate', '0', '--heartbeat', '1', '--drain-timeout', '1', ...args],
    timeoutMs: 30_000,
  })
  running.push(hub)
  return hub
}

/** Publishes EVENTS events in batches, BATCH per request, `concurrency` requests at a time, round-robin over `urls`. */
async function publishAll(urls: string[], topicOf: (i: number) => string, concurrency = 8) {
  const ids: string[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    for (;;) {
      const start = next
      next += BATCH
      if (start >= EVENTS) return
      const url = urls[(start / BATCH) % urls.length] as string
      const body = Array.from({ length: BATCH }, (_, j) => ({
        topic: topicOf(start + j),
        data: String(start + j),
      }))
      for (let attempt = 0; ; attempt++) {
        try {
          const response = await fetch(`${url}/publish`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
            // A connection the cluster handed to a worker as it died is never answered.
            signal: AbortSignal.timeout(10_000),
          })
          expect(response.status).toBe(200)
          ids.push(...((await response.json()) as { ids: string[] }).ids)
          break
        } catch (error) {
          // A worker killed mid-request: the publish was not acknowledged, so it is retried.
          // (It may have been appended: retries publish it again, with a new id.)
          if (attempt > 20) throw error
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return ids
}

interface Follower {
  /** Ids received, in arrival order, across reconnects. */
  readonly ids: string[]
  /** Data received, in arrival order. */
  readonly data: string[]
  /** Reconnections made. */
  readonly reconnects: number
  /** Resolves once `total` events arrived. */
  readonly done: Promise<void>
  stop(): void
}

/**
 * A subscriber that reconnects with its Last-Event-ID (to the next URL of `urls`) whenever
 * its stream ends, and, when `dropEvery` is set, drops its own connection at random points.
 */
function follow(urls: string[], topic: string, total: number, dropEvery = 0): Follower {
  const ids: string[] = []
  const data: string[] = []
  let reconnects = 0
  let stopped = false
  let current: { close(): void } | undefined
  const done = (async () => {
    for (let n = 0; ids.length < total && !stopped; n++) {
      const url = urls[n % urls.length] as string
      const headers: Record<string, string> = {}
      // From the start of the log ('0'), then from the last id received.
      headers['last-event-id'] = ids.at(-1) ?? '0'
      let stream: Awaited<ReturnType<typeof openEventStream>>
      try {
        stream = await Promise.race([
          openEventStream(`${url}/events?topic=${encodeURIComponent(topic)}`, headers),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('no answer')), 10_000),
          ),
        ])
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50))
        continue
      }
      current = stream
      if (n > 0) reconnects++
      const target = dropEvery > 0 ? ids.length + 1 + Math.floor(Math.random() * dropEvery) : total
      await stream
        .until((events) => ids.length + events.length >= Math.min(total, target), 120_000)
        .catch(() => {})
      stream.close()
      for (const event of stream.events) {
        if (event.type !== 'message')
          console.log('EVENT', event.type, event.data, headers['last-event-id'])
        const prev = ids.at(-1)
        if (prev !== undefined && event.lastEventId <= prev)
          console.log(
            'DUP',
            prev,
            event.lastEventId,
            headers['last-event-id'],
            ids.length,
            stream.events.length,
          )
        ids.push(event.lastEventId)
        data.push(event.data)
      }
    }
  })()
  return {
    ids,
    data,
    get reconnects() {
      return reconnects
    },
    done,
    stop() {
      stopped = true
      current?.close()
    },
  }
}

function expectExactlyOnceInOrder(follower: Follower, published: string[]): void {
  const sorted = [...published].sort()
  expect(follower.ids.length).toBe(sorted.length)
  expect(new Set(follower.ids).size).toBe(sorted.length)
  // Strictly increasing, and exactly the published ids.
  expect(follower.ids).toEqual(sorted)
}

async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? Number.NaN : Number(line.split(' ')[1])
}

describe('one log, many processes', () => {
  it('two herald serve on one SQLite file: 20 subscribers get all 5000 events once, in id order', async () => {
    const store = `sqlite:${join(dir, 'two', 'herald.db')}`
    const a = await serve(['--store', store])
    const b = await serve(['--store', store])
    const urls = [a.url, b.url]
    const followers = Array.from({ length: SUBSCRIBERS }, (_, i) =>
      follow([urls[i % 2] as string], 'load/*', EVENTS),
    )
    // Wait until every subscriber is attached on its node before publishing.
    await Promise.all(
      followers.map(async (_, i) => {
        const url = urls[i % 2] as string
        for (let t = 0; t < 200; t++) {
          if ((await metricValue(url, 'herald_connections')) >= SUBSCRIBERS / 2) return
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
      }),
    )
    const published = await publishAll(urls, (i) => `load/${i % 7}`)
    expect(published).toHaveLength(EVENTS)
    await Promise.all(followers.map((f) => f.done))
    for (const follower of followers) expectExactlyOnceInOrder(follower, published)
    expect(await a.stop()).toBe(0)
    expect(await b.stop()).toBe(0)
  }, 180_000)

  it('--workers 2: subscribers dropping at random resume on another worker; a killed worker is replaced; nothing lost or repeated', async () => {
    const store = `sqlite:${join(dir, 'workers', 'herald.db')}`
    const hub = await serve(['--store', store, '--workers', '2'])
    const workerPids = (): number[] =>
      execFileSync('pgrep', ['-P', String(hub.child.pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map(Number)
    expect(workerPids()).toHaveLength(2)
    const followers = Array.from({ length: SUBSCRIBERS }, () =>
      follow([hub.url], 'w/**', EVENTS, 700),
    )
    for (let t = 0; t < 200; t++) {
      if ((await metricValue(hub.url, 'herald_connections')) >= SUBSCRIBERS) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    // The sum over both workers: each holds some of the 20 streams.
    expect(await metricValue(hub.url, 'herald_connections')).toBe(SUBSCRIBERS)
    const publishing = publishAll([hub.url], (i) => `w/${i % 3}/x`)
    // Kill one worker while events flow: its subscribers reconnect to the other one.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const [victim] = workerPids()
    process.kill(victim as number, 'SIGKILL')
    const published = await publishing
    await Promise.all(followers.map((f) => f.done))
    // Retried publishes may have been appended twice (the kill cut an answer): subscribers
    // get whatever the log holds, each id once and in order.
    const page = await fetch(`${hub.url}/metrics`)
    expect(page.status).toBe(200)
    const logIds = [...new Set(followers[0]?.ids)]
    expect(logIds.length).toBeGreaterThanOrEqual(published.length)
    for (const follower of followers) {
      expect(new Set(follower.ids).size).toBe(follower.ids.length)
      expect(follower.ids).toEqual([...follower.ids].sort())
      expect(follower.ids).toEqual(followers[0]?.ids)
      for (const id of published) expect(follower.ids.includes(id)).toBe(true)
    }
    expect(followers.reduce((n, f) => n + f.reconnects, 0)).toBeGreaterThan(SUBSCRIBERS)
    // The killed worker was replaced.
    for (let t = 0; t < 100 && workerPids().length < 2; t++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const pids = workerPids()
    expect(pids).toHaveLength(2)
    expect(pids).not.toContain(victim)
    expect(hub.stderr()).toMatch(/a worker died: starting a replacement/)
    expect(await hub.stop('SIGTERM')).toBe(0)
  }, 180_000)

  it('--workers 2: every published event counts once in the summed /metrics, SIGTERM drains all and exits 0', async () => {
    const store = `sqlite:${join(dir, 'metrics', 'herald.db')}`
    const hub = await serve(['--store', store, '--workers', '2'])
    for (let i = 0; i < 40; i++) {
      const response = await fetch(`${hub.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ topic: 'm', data: String(i) }),
      })
      expect(response.status).toBe(200)
    }
    expect(await metricValue(hub.url, 'herald_events_published_total')).toBe(40)
    const stream = await openEventStream(`${hub.url}/events?topic=m`)
    expect(stream.status).toBe(200)
    expect(await hub.stop('SIGTERM')).toBe(0)
    await stream.ended
    expect(() => execFileSync('pgrep', ['-P', String(hub.child.pid)])).toThrow()
  })

  it('refuses --workers with the memory store, and a bad --workers value (exit 2)', async () => {
    for (const [args, message] of [
      [['--workers', '2', '--store', 'memory'], /memory store lives in one process/],
      [
        ['--workers', 'many'],
        /--workers \(HERALD_WORKERS\): expected an integer from 1 to 256 or auto/,
      ],
    ] as const) {
      const error = await serve([...args]).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(error?.message).toMatch(/exited \(2\)/)
      expect(error?.message).toMatch(message)
    }
  })

  it('Mercure form POST with two topics: ONE event, once to a subscriber of both, once to a subscriber of the second, replayed once', async () => {
    const store = `sqlite:${join(dir, 'mercure', 'herald.db')}`
    const a = await serve(['--store', store])
    const b = await serve(['--store', store])
    const first = 'https://example.com/books/1'
    const second = 'https://example.com/authors/7'
    const both = await openEventStream(
      `${a.url}/.well-known/mercure?topic=${encodeURIComponent(first)}&topic=${encodeURIComponent(second)}`,
    )
    const onlySecond = await openEventStream(
      `${b.url}/.well-known/mercure?topic=${encodeURIComponent(second)}`,
    )
    const form = new URLSearchParams([
      ['topic', first],
      ['topic', second],
      ['data', 'one update'],
    ])
    const posted = await fetch(`${b.url}/.well-known/mercure`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    })
    expect(posted.status).toBe(200)
    const id = await posted.text()
    const after = await fetch(`${a.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: second, data: 'next' }),
    })
    expect(after.status).toBe(200)
    // The Mercure path names events by their Mercure id: the one the form POST answered.
    const got = await both.count(2)
    expect(got.map((e) => e.data)).toEqual(['one update', 'next'])
    expect(got[0]?.lastEventId).toBe(id)
    expect(new Set(got.map((e) => e.lastEventId)).size).toBe(2)
    expect((await onlySecond.count(2)).map((e) => e.data)).toEqual(['one update', 'next'])
    both.close()
    onlySecond.close()
    const replay = await openEventStream(
      `${b.url}/.well-known/mercure?topic=${encodeURIComponent(first)}&topic=${encodeURIComponent(second)}&lastEventID=earliest`,
    )
    expect((await replay.count(2)).map((e) => e.data)).toEqual(['one update', 'next'])
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(replay.events).toHaveLength(2)
    replay.close()
  })
})
