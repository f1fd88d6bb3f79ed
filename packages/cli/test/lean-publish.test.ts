/**
 * `herald serve` publishes on the lean path as a process: by default (and behind
 * `--trust-proxy`); `--no-lean-publish` and `--no-lean-streams` leave them to node:http.
 * The protocol cases are in packages/hub/test/lean-publish.test.ts.
 */
import { startHubProcess } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

/** Publishes once; `true` when the lean path answered (node:http adds Keep-Alive: timeout=5). */
async function publishedLean(url: string): Promise<boolean> {
  const response = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'lean', data: 'x' }),
  })
  expect(response.status).toBe(200)
  expect(((await response.json()) as { ids: string[] }).ids).toHaveLength(1)
  return response.headers.get('keep-alive') === null
}

describe('herald serve: lean publishes', () => {
  it.each([
    [[], true],
    [['--lean-publish'], true],
    [['--trust-proxy'], true],
    [['--no-lean-publish'], false],
    [['--no-lean-streams'], false],
  ])('with %j, answers publishes on the lean path: %s', async (args, lean) => {
    const hub = await startHubProcess({ args })
    try {
      expect(await publishedLean(hub.url)).toBe(lean)
    } finally {
      expect(await hub.stop()).toBe(0)
    }
  })
})
