import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StoreBackend } from '@herald/hub'
import { openStore, STORE_BACKENDS } from '@herald/hub'
import { isHeraldError } from '@herald/protocol'
import { afterAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-registry-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function failure(spec: string, backends?: readonly StoreBackend[]): Promise<unknown> {
  return openStore(spec, {}, backends).then(
    (store) => store.close().then(() => new Error('opened')),
    (error: unknown) => error,
  )
}

describe('store registry', () => {
  it('opens memory and sqlite by spec, and the stores work', async () => {
    for (const spec of ['memory', `sqlite:${join(dir, 'a', 'herald.db')}`]) {
      const store = await openStore(spec, { retention: { maxEvents: 10 } })
      const [event] = await store.append([{ topic: 't', data: spec }])
      const page = await store.read(undefined, { topics: ['t'], limit: 10 })
      expect(page.kind === 'events' && page.events).toEqual([event])
      await store.close()
    }
  })

  it('loads network backends by package name: redis:// and nats:// open their stores', async () => {
    // Real Redis and NATS on loopback; the stores answer health once connected.
    for (const spec of [
      'redis://127.0.0.1:6379/?namespace=registry-test',
      'nats://127.0.0.1:4222',
    ]) {
      const store = await openStore(spec)
      expect(typeof store.append).toBe('function')
      await store.close()
    }
  })

  it('answers a clear "not installed" error for a backend whose package is missing', async () => {
    const backends: StoreBackend[] = [
      ...STORE_BACKENDS,
      {
        name: 'postgres',
        package: '@herald/store-postgres-not-installed',
        matches: (spec) => spec.startsWith('postgres://'),
        open: () => {
          throw new Error('unreachable')
        },
      },
    ]
    const error = await failure('postgres://x', backends)
    expect(isHeraldError(error, 'HERALD_UNSUPPORTED_STORE')).toBe(true)
    expect((error as Error).message).toBe(
      '--store postgres: the @herald/store-postgres-not-installed package is not installed (npm install @herald/store-postgres-not-installed)',
    )
  })

  it('refuses unknown schemes and malformed specs', async () => {
    const unknown = await failure('mysql://db')
    expect(isHeraldError(unknown, 'HERALD_UNSUPPORTED_STORE')).toBe(true)
    expect((unknown as Error).message).toMatch(/expected memory, sqlite:PATH, redis:\/\/HOST:PORT/)
    expect(isHeraldError(await failure('sqlite:'), 'HERALD_INVALID_CONFIG')).toBe(true)
  })
})
