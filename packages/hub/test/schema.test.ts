/**
 * Per-topic data schemas with real Standard Schema libraries (zod, valibot), over HTTP.
 */
import { createHub, createMemoryEventStore } from '@herald/hub'
import { isHeraldError } from '@herald/protocol'
import * as v from 'valibot'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { listenHub } from './fixtures.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('topic schemas', () => {
  it('refuses data that does not match its topic schema (400), atomically', async () => {
    const store = createMemoryEventStore()
    const { hub, url: base } = await listenHub(
      {
        store,
        schemas: [
          {
            pattern: 'orders/*',
            schema: z.object({ total: z.number(), currency: z.string().length(3) }),
          },
          { pattern: 'chat/**', schema: v.string() },
        ],
      },
      cleanups,
    )
    const url = `${base}/publish`
    const post = async (body: unknown) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      return {
        status: response.status,
        body: (await response.json()) as { error?: { code: string; message: string } },
      }
    }
    expect((await post({ topic: 'orders/1', data: { total: 42, currency: 'EUR' } })).status).toBe(
      200,
    )
    // A JSON string is checked as its parsed value, so both forms are held to the schema.
    expect((await post({ topic: 'orders/1', data: '{"total":1,"currency":"USD"}' })).status).toBe(
      200,
    )
    const bad = await post({ topic: 'orders/1', data: { total: 'lots', currency: 'EUR' } })
    expect(bad.status).toBe(400)
    expect(bad.body.error?.code).toBe('HERALD_PUBLISH_SCHEMA')
    expect(bad.body.error?.message).toMatch(/data\.total/)
    const batch = await post([
      { topic: 'chat/room/1', data: 'hello' },
      { topic: 'chat/room/1', data: { not: 'a string' } },
    ])
    expect(batch.status).toBe(400)
    expect(batch.body.error?.message).toMatch(/^events\[1\]: /)
    expect((await post({ topic: 'other', data: { anything: true } })).status).toBe(200)
    const page = await store.read(undefined, { topics: ['**'], limit: 10 })
    expect(page.kind === 'events' && page.events.map((e) => e.topic)).toEqual([
      'orders/1',
      'orders/1',
      'other',
    ])
    await expect(hub.publish({ topic: 'chat/x', data: 42 })).rejects.toMatchObject({
      code: 'HERALD_PUBLISH_SCHEMA',
    })
  })

  it('refuses a schema that is not a Standard Schema validator', () => {
    let error: unknown
    try {
      createHub({
        store: createMemoryEventStore(),
        schemas: [{ pattern: 'a', schema: {} as never }],
      })
    } catch (e) {
      error = e
    }
    expect(isHeraldError(error, 'HERALD_INVALID_CONFIG')).toBe(true)
  })
})
