/**
 * The connection writes a command to the socket when it is sent, not from a later
 * `setImmediate` (@redis/client's own schedule): the event store sends its append calls at the
 * end of an event-loop turn, from an immediate, and an immediate queued there would run a whole
 * turn later.
 */
import { execFileSync } from 'node:child_process'
import { type BackendServer, startRedisServer } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisConnection } from '../src/connection.js'

describe('redis connection (private redis-server)', () => {
  let server: BackendServer
  beforeAll(async () => {
    server = await startRedisServer({ persistence: 'none' })
  })
  afterAll(async () => {
    await server.dispose()
  })

  it('writes a command sent from an immediate before that immediate returns', async () => {
    const connection = createRedisConnection({
      url: server.url,
      commandTimeoutMs: 6000,
      maxBackoffMs: 100,
    })
    try {
      await connection.command(['PING'])
      const port = new URL(server.url).port
      const seen = await new Promise<string>((resolve, reject) => {
        setImmediate(() => {
          const sent = connection.command(['INCR', 'written'])
          // A second client, synchronously, in this same immediate: Redis has our INCR only if
          // it was written already.
          resolve(
            execFileSync('redis-cli', ['-p', port, 'GET', 'written'], { encoding: 'utf8' }).trim(),
          )
          sent.catch(reject)
        })
      })
      expect(seen).toBe('1')
    } finally {
      await connection.close()
    }
  })
})
