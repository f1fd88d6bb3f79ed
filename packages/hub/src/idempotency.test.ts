import { describe, expect, it } from 'vitest'
import { createIdempotencyCache } from './idempotency.js'

describe('idempotency cache', () => {
  it('forgets keys after the ttl and beyond maxKeys', async () => {
    let t = 0
    let runs = 0
    const cache = createIdempotencyCache<number>({ ttlMs: 1000, maxKeys: 2 }, () => t)
    const run = (key: string) => cache.run(key, 'body', async () => ++runs)
    expect(await run('a')).toEqual({ answer: 1, replayed: false })
    expect(await run('a')).toEqual({ answer: 1, replayed: true })
    t = 1001
    expect(await run('a')).toEqual({ answer: 2, replayed: false })
    await run('b')
    await run('c') // evicts 'a', the oldest
    expect((await run('a')).replayed).toBe(false)
  })

  it('does not remember failures', async () => {
    const cache = createIdempotencyCache<string>()
    await expect(
      cache.run('k', 'x', async () => Promise.reject(new Error('boom'))),
    ).rejects.toThrow('boom')
    expect(await cache.run('k', 'x', async () => 'ok')).toEqual({ answer: 'ok', replayed: false })
  })
})
