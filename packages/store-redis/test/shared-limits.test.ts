/**
 * Idempotency keys and rate limits shared by two nodes through the real Redis.
 */
import { randomUUID } from 'node:crypto'
import { isHeraldError } from '@herald/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import {
  createRedisConnection,
  createRedisIdempotencyCache,
  createRedisRateLimiter,
} from '../src/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `herald:v1:{test-limits-${randomUUID().slice(0, 8)}}:`
const nodeA = createRedisConnection({ url, commandTimeoutMs: 2000, maxBackoffMs: 500 })
const nodeB = createRedisConnection({ url, commandTimeoutMs: 2000, maxBackoffMs: 500 })

afterAll(async () => {
  const keys = await nodeA.command<string[]>(['KEYS', `${prefix}*`])
  if (keys.length > 0) await nodeA.command(['DEL', ...keys])
  await nodeA.close()
  await nodeB.close()
})

describe('shared idempotency keys', () => {
  const a = createRedisIdempotencyCache<{ ids: string[] }>(nodeA, prefix)
  const b = createRedisIdempotencyCache<{ ids: string[] }>(nodeB, prefix)

  it('answers a retry on another node with the first answer, once', async () => {
    let calls = 0
    const publish = async () => {
      calls++
      await new Promise((resolve) => setTimeout(resolve, 50))
      return { ids: [`id-${calls}`] }
    }
    // Concurrent: B waits for A's answer instead of publishing again.
    const [first, second] = await Promise.all([
      a.run('k1', 'body', publish),
      new Promise((resolve) => setTimeout(resolve, 10)).then(() => b.run('k1', 'body', publish)),
    ])
    expect(calls).toBe(1)
    // Either node may claim the key first (the 10 ms head start is not a promise on a loaded
    // machine): exactly one publishes, the other replays the same answer.
    expect([first, second]).toEqual(
      expect.arrayContaining([
        { answer: { ids: ['id-1'] }, replayed: false },
        { answer: { ids: ['id-1'] }, replayed: true },
      ]),
    )
    expect(await b.run('k1', 'body', publish)).toEqual({
      answer: { ids: ['id-1'] },
      replayed: true,
    })
    expect(calls).toBe(1)
  })

  it('refuses the key with another body (422) and forgets failures', async () => {
    await a.run('k2', 'one', async () => ({ ids: ['x'] }))
    const error = await b.run('k2', 'two', async () => ({ ids: ['y'] })).catch((e: unknown) => e)
    expect(isHeraldError(error, 'HERALD_IDEMPOTENCY_KEY_REUSED')).toBe(true)
    expect((error as { status?: number }).status).toBe(422)
    await expect(
      a.run('k3', 'body', async () => {
        throw new Error('store down')
      }),
    ).rejects.toThrow('store down')
    expect(await b.run('k3', 'body', async () => ({ ids: ['retried'] }))).toEqual({
      answer: { ids: ['retried'] },
      replayed: false,
    })
  })
})

describe('shared publish rate limit', () => {
  it('counts one caller across nodes', async () => {
    // One token per 100 s, so the burst cannot refill while a slow machine runs the test.
    // The limiter lets requests through while its connection is not ready: wait until both are,
    // so this test does not depend on an earlier one having warmed the connections.
    await Promise.all([nodeA.command(['PING']), nodeB.command(['PING'])])
    while (!nodeA.ready || !nodeB.ready) await new Promise((resolve) => setTimeout(resolve, 10))
    const a = createRedisRateLimiter(nodeA, prefix, { rate: 0.01, burst: 3 })
    const b = createRedisRateLimiter(nodeB, prefix, { rate: 0.01, burst: 3 })
    const waits = [await a.take('caller'), await b.take('caller'), await a.take('caller')]
    expect(waits).toEqual([0, 0, 0])
    // The fourth take waits. A take that misses the limiter's 1 s deadline (a loaded machine)
    // is let through without counting, so alternate until the first wait and require it before
    // limiters per node (3 each) would give one: by the sixth take.
    let wait = 0
    for (let n = 4; n <= 6 && wait === 0; n++) wait = await (n % 2 === 0 ? b : a).take('caller')
    expect(wait).toBeGreaterThan(0)
    expect(wait).toBeLessThanOrEqual(100)
    // Another caller has its own bucket.
    expect(await b.take('other')).toBe(0)
  })

  it('lets requests through while Redis is unreachable', async () => {
    const down = createRedisConnection({
      url: 'redis://127.0.0.1:1',
      commandTimeoutMs: 200,
      maxBackoffMs: 200,
    })
    const limiter = createRedisRateLimiter(down, prefix, { rate: 1, burst: 1 })
    expect(await limiter.take('x')).toBe(0)
    expect(await limiter.take('x')).toBe(0)
    await down.close()
  })
})
