/**
 * Black-box: `herald serve` logs one info line per stream open and close (path, duration,
 * bytes, reason) and, at debug, one per publish (topic, size, id); at info publishes get a
 * summary per interval instead (packages/hub/src/publish-log.test.ts).
 */
import { openEventStream, startHubProcess } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

type Line = Record<string, unknown> & { msg: string }

describe('herald serve logs', () => {
  it('logs stream open/close with duration and bytes, and at debug each publish with topic and size', async () => {
    const hub = await startHubProcess({ args: ['--log-level', 'debug'] })
    const lines = (): Line[] =>
      hub
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Line)
    try {
      const stream = await openEventStream(`${hub.url}/events?topic=logs`)
      const response = await fetch(`${hub.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'logs', data: 'x'.repeat(100) }),
      })
      const { id } = (await response.json()) as { id: string }
      await stream.count(1)
      stream.close()
      const deadline = Date.now() + 10_000
      while (!lines().some((l) => l.msg === 'stream closed') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      const opened = lines().find((l) => l.msg === 'stream opened')
      expect(opened).toMatchObject({ path: '/events', query: '?topic=logs', ip: '127.0.0.1' })
      expect(lines().find((l) => l.msg === 'published')).toMatchObject({
        level: 20,
        topic: 'logs',
        bytes: 100,
        id,
      })
      const closed = lines().find((l) => l.msg === 'stream closed')
      expect(closed).toMatchObject({ path: '/events', reason: 'client' })
      expect(closed?.sessionId).toBe(opened?.sessionId)
      expect(typeof closed?.durationMs).toBe('number')
      // The retry hint plus the event frame at least.
      expect(closed?.bytes as number).toBeGreaterThan(100)
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })
})
