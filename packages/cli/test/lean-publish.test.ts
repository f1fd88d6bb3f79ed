/**
 * `herald serve --lean-publish` as a process: refused with --trust-proxy at once (exit 2,
 * nothing left running that would keep the process alive); with it, publishes are answered
 * on the lean path. The protocol cases are in packages/hub/test/lean-publish.test.ts.
 */
import { runHerald, startHubProcess } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

describe('herald serve --lean-publish', () => {
  it('is refused with --trust-proxy: exit 2 with the reason', async () => {
    const run = await runHerald([
      'serve',
      '--port',
      '0',
      '--store',
      'memory',
      '--lean-publish',
      '--trust-proxy',
    ])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('HERALD_INVALID_CONFIG')
    expect(run.stderr).toContain('trustProxy')
  }, 30_000)

  it('answers publishes on the lean path', async () => {
    const hub = await startHubProcess({ args: ['--lean-publish'] })
    try {
      const response = await fetch(`${hub.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'lean', data: 'x' }),
      })
      expect(response.status).toBe(200)
      expect(((await response.json()) as { ids: string[] }).ids).toHaveLength(1)
      // node:http adds Keep-Alive: timeout=5 to its keep-alive answers; the lean path does not.
      expect(response.headers.get('keep-alive')).toBeNull()
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })
})
