/**
 * Black-box: the schema registry on the real `herald serve`: register, evolve compatibly,
 * refusal of each kind of breaking change, validation of single and batch publishes (nothing
 * appended on refusal: the log is read back), the Mercure form path, the admin grant, the
 * version in the stream, SQLite restarts, and two processes on one SQLite file agreeing.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BackendServer } from '@herald/testkit'
import {
  type HubProcess,
  openEventStream,
  startHubProcess,
  startNatsServer,
  startRedisServer,
} from '@herald/testkit'
import { SignJWT } from 'jose'
import { afterAll, afterEach, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-schemas-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const running: HubProcess[] = []
afterEach(async () => {
  for (const hub of running.splice(0)) await hub.stop('SIGKILL')
})
async function start(args: string[] = []): Promise<HubProcess> {
  const hub = await startHubProcess({ args })
  running.push(hub)
  return hub
}

interface Answer {
  status: number
  body: {
    topic?: string
    version?: number
    error?: { code: string; message: string; details?: Record<string, unknown> }
    [key: string]: unknown
  }
}

async function call(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, body: (await response.json()) as Answer['body'] }
}

const register = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  call(`${url}/schemas`, 'POST', body, headers)
const publish = (url: string, body: unknown) => call(`${url}/publish`, 'POST', body)

/** Version 1 of `orders/*`: a closed object. */
const V1 = {
  type: 'object',
  properties: {
    total: { type: 'number', minimum: 0 },
    status: { enum: ['new', 'paid'] },
    note: { type: 'string' },
  },
  required: ['total'],
  additionalProperties: false,
}
/** Version 2: backward compatible (an optional field, an enum value, a wider type). */
const V2 = {
  ...V1,
  properties: {
    ...V1.properties,
    status: { enum: ['new', 'paid', 'shipped'] },
    note: { type: ['string', 'null'] },
    currency: { type: 'string' },
  },
}

/** The change kinds of a 409, with its code checked. */
function kinds(answer: Answer): string[] {
  expect(answer.status, JSON.stringify(answer.body)).toBe(409)
  expect(answer.body.error?.code).toBe('HERALD_SCHEMA_INCOMPATIBLE')
  const changes = answer.body.error?.details?.changes as { kind: string; path: string }[]
  return changes.map((c) => `${c.kind} ${c.path}`)
}

/** Every event of `topic` in the log, read back by replay up to a sentinel published last. */
async function readLog(url: string, topic: string): Promise<{ data: string }[]> {
  const sentinel = await publish(url, { topic: 'log-end', data: 'end' })
  expect(sentinel.status).toBe(200)
  const stream = await openEventStream(
    `${url}/events?topic=${encodeURIComponent(topic)}&topic=log-end`,
    { 'last-event-id': 'earliest' },
  )
  const events = await stream.until((all) => all.some((e) => e.data === 'end'))
  stream.close()
  return events.filter((e) => e.data !== 'end')
}

describe('schema registry (herald serve)', () => {
  it('registers, evolves compatibly, and refuses each kind of breaking change by name', {
    timeout: 90_000,
  }, async () => {
    const { url } = await start()
    expect(await register(url, { topic: 'orders/*', schema: V1 })).toEqual({
      status: 201,
      body: { topic: 'orders/*', version: 1 },
    })
    // The same schema again: nothing new, the same version.
    expect(await register(url, { topic: 'orders/*', schema: V1 })).toEqual({
      status: 200,
      body: { topic: 'orders/*', version: 1 },
    })
    expect(await register(url, { topic: 'orders/*', schema: V2 })).toEqual({
      status: 201,
      body: { topic: 'orders/*', version: 2 },
    })
    const { note: _note, ...withoutNote } = V2.properties
    expect(
      kinds(await register(url, { topic: 'orders/*', schema: { ...V2, properties: withoutNote } })),
    ).toEqual(['field-removed /properties/note'])
    expect(
      kinds(
        await register(url, {
          topic: 'orders/*',
          schema: {
            ...V2,
            properties: { ...V2.properties, total: { type: 'integer', minimum: 0 } },
          },
        }),
      ),
    ).toEqual(['type-narrowed /properties/total/type'])
    expect(
      kinds(
        await register(url, {
          topic: 'orders/*',
          schema: { ...V2, required: ['total', 'currency'] },
        }),
      ),
    ).toEqual(['required-field-added /required'])
    expect(
      kinds(
        await register(url, {
          topic: 'orders/*',
          schema: { ...V2, properties: { ...V2.properties, status: { enum: ['new', 'shipped'] } } },
        }),
      ),
    ).toEqual(['enum-value-removed /properties/status/enum'])
    expect(
      kinds(
        await register(url, {
          topic: 'orders/*',
          schema: {
            ...V2,
            properties: { ...V2.properties, total: { type: 'number', minimum: 1 } },
          },
        }),
      ),
    ).toEqual(['range-narrowed /properties/total/minimum'])
    // Several at once are all named; the message names them too.
    const many = await register(url, {
      topic: 'orders/*',
      schema: { ...V2, properties: withoutNote, required: ['total', 'currency'] },
    })
    expect(kinds(many).sort()).toEqual([
      'field-removed /properties/note',
      'required-field-added /required',
    ])
    expect(many.body.error?.message).toMatch(/field-removed at \/properties\/note/)
    // forward: old readers must read new data; making a required field optional breaks them.
    expect(
      kinds(
        await register(url, {
          topic: 'orders/*',
          schema: { ...V2, required: [] },
          compatibility: 'forward',
        }),
      ),
    ).toEqual(['required-field-removed /required'])
    // full: both directions (an added optional field is not forward compatible in a closed model).
    expect(
      kinds(
        await register(url, {
          topic: 'orders/*',
          schema: { ...V2, properties: { ...V2.properties, extra: { type: 'string' } } },
          compatibility: 'full',
        }),
      ),
    ).toEqual(['field-added /properties/extra'])
    // Nothing refused was stored.
    const listed = await call(`${url}/schemas`, 'GET')
    expect(listed.status).toBe(200)
    const all = listed.body.schemas as {
      topic: string
      versions: { version: number; schema: unknown }[]
    }[]
    expect(all.map((s) => [s.topic, s.versions.map((v) => v.version)])).toEqual([
      ['orders/*', [1, 2]],
    ])
    expect(all[0]?.versions[1]?.schema).toEqual(V2)
    // none: anything goes.
    expect(
      await register(url, { topic: 'orders/*', schema: { type: 'string' }, compatibility: 'none' }),
    ).toEqual({ status: 201, body: { topic: 'orders/*', version: 3 } })
  })

  it('refuses an invalid JSON Schema or compatibility with 400 HERALD_SCHEMA_INVALID', {
    timeout: 90_000,
  }, async () => {
    const { url } = await start()
    for (const body of [
      { topic: 't', schema: { type: 'nope' } },
      { topic: 't', schema: { type: 'string', pattern: '(' } },
      { topic: 't', schema: { $ref: '#/definitions/missing' } },
      { topic: 't', schema: [1] },
      { topic: 't' },
      { topic: 't', schema: {}, compatibility: 'sideways' },
    ]) {
      const answer = await register(url, body)
      expect(answer.status, JSON.stringify(body)).toBe(400)
      expect(answer.body.error?.code).toBe('HERALD_SCHEMA_INVALID')
    }
    const badTopic = await register(url, { topic: 'a/**/b', schema: {} })
    expect(badTopic.body.error?.code).toBe('HERALD_INVALID_TOPIC')
    expect((await call(`${url}/schemas`, 'GET')).body).toEqual({ schemas: [] })
  })

  it('answers the most specific pattern for a topic, ties by code point order', {
    timeout: 90_000,
  }, async () => {
    const { url } = await start()
    for (const topic of ['orders/**', 'orders/*', '*/vip', 'orders/vip', '*/*']) {
      expect((await register(url, { topic, schema: { title: topic } })).status).toBe(201)
    }
    const which = async (topic: string) => {
      const answer = await call(`${url}/schemas?topic=${encodeURIComponent(topic)}`, 'GET')
      return answer.status === 200 ? answer.body.topic : answer.body.error?.code
    }
    expect(await which('orders/vip')).toBe('orders/vip')
    expect(await which('orders/1')).toBe('orders/*')
    expect(await which('users/vip')).toBe('*/vip')
    expect(await which('users/7')).toBe('*/*')
    expect(await which('orders/1/lines')).toBe('orders/**')
    expect(await which('nothing')).toBe('HERALD_NOT_FOUND')
    expect(await which('orders/*')).toBe('HERALD_INVALID_TOPIC')
    const answer = await call(`${url}/schemas?topic=orders/1`, 'GET')
    expect(answer.body).toMatchObject({
      topic: 'orders/*',
      version: 1,
      schema: { title: 'orders/*' },
    })
  })

  it('validates publishes: valid ones carry the version, invalid ones (single, batch, form) append nothing', {
    timeout: 90_000,
  }, async () => {
    const { url } = await start()
    await register(url, { topic: 'orders/*', schema: V1 })
    await register(url, { topic: 'orders/*', schema: V2 })
    const ok = await publish(url, { topic: 'orders/1', data: { total: 3, status: 'shipped' } })
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)

    const bad = await publish(url, { topic: 'orders/1', data: { total: 'three' } })
    expect(bad.status).toBe(400)
    expect(bad.body.error?.code).toBe('HERALD_SCHEMA_VIOLATION')
    expect(bad.body.error?.details).toMatchObject({
      topic: 'orders/1',
      schema: { topic: 'orders/*', version: 2 },
      pointer: '/total',
      rule: 'type',
    })
    const missing = await publish(url, { topic: 'orders/1', data: { status: 'new' } })
    expect(missing.body.error?.details).toMatchObject({ pointer: '/total', rule: 'required' })
    // JSON text in a string is validated as what it encodes.
    const text = await publish(url, { topic: 'orders/1', data: '{"total":-1}' })
    expect(text.body.error?.details).toMatchObject({ pointer: '/total', rule: 'minimum' })
    // A batch with one bad event is refused whole.
    const batch = await publish(url, [
      { topic: 'orders/2', data: { total: 1 } },
      { topic: 'orders/2', data: { total: 2, extra: true } },
    ])
    expect(batch.status).toBe(400)
    expect(batch.body.error?.details).toMatchObject({
      index: 1,
      rule: 'additionalProperties',
      pointer: '/extra',
    })
    // The Mercure form POST goes through the same pipeline.
    const form = await fetch(`${url}/.well-known/mercure`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ topic: 'orders/3', data: '{"total":"x"}' }).toString(),
    })
    expect(form.status).toBe(400)
    expect(((await form.json()) as Answer['body']).error?.code).toBe('HERALD_SCHEMA_VIOLATION')
    // Topics without a schema are untouched.
    expect((await publish(url, { topic: 'free', data: 'anything' })).status).toBe(200)

    const log = await readLog(url, 'orders/*')
    expect(log.map((e) => e.data)).toEqual(['{"total":3,"status":"shipped"}'])
  })

  it('tells subscribers the version in a comment line, leaving data and event as they were', {
    timeout: 90_000,
  }, async () => {
    const { url } = await start()
    await register(url, { topic: 'v/*', schema: { type: 'object' } })
    await publish(url, { topic: 'v/1', data: { a: 1 }, event: 'update' })
    await publish(url, { topic: 'plain', data: 'no schema' })
    const controller = new AbortController()
    const response = await fetch(`${url}/events?topic=v/1&topic=plain`, {
      headers: { accept: 'text/event-stream', 'last-event-id': 'earliest' },
      signal: controller.signal,
    })
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const decoder = new TextDecoder()
    let text = ''
    const deadline = Date.now() + 10_000
    while (!text.includes('data: no schema\n\n') && Date.now() < deadline) {
      const { value, done } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    controller.abort()
    expect(text).toMatch(/(^|\n): schema 1\nevent: update\nid: \S+\ndata: \{"a":1\}\n\n/)
    // The event without a schema is framed as before: no comment before it.
    expect(text).toMatch(/\n\nid: \S+\ndata: no schema\n\n/)
    // A plain parser sees the same data and type as without the registry.
    const stream = await openEventStream(`${url}/events?topic=v/1`, { 'last-event-id': 'earliest' })
    const [event] = await stream.count(1)
    stream.close()
    expect(event).toMatchObject({ type: 'update', data: '{"a":1}' })
  })

  it('needs the admin grant to register when auth is on; any valid token may read', {
    timeout: 90_000,
  }, async () => {
    const secret = 'schemas-test-secret-0123456789abcdef'
    const admin = 'schemas-admin-token-0123456789'
    const { url } = await start(['--jwt-secret', secret, '--admin-token', admin])
    const sign = (payload: Record<string, unknown>) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(secret))
    const publisher = await sign({ herald: { publish: ['*'] } })
    const adminJwt = await sign({ herald: { admin: true } })
    const body = { topic: 'a/*', schema: { type: 'object' } }
    expect((await register(url, body)).status).toBe(401)
    const forbidden = await register(url, body, { authorization: `Bearer ${publisher}` })
    expect([forbidden.status, forbidden.body.error?.code]).toEqual([403, 'HERALD_FORBIDDEN'])
    expect((await register(url, body, { authorization: `Bearer ${admin}` })).status).toBe(201)
    const next = { topic: 'a/*', schema: { type: 'object', title: 'v2' } }
    expect((await register(url, next, { authorization: `Bearer ${adminJwt}` })).status).toBe(201)
    expect((await call(`${url}/schemas`, 'GET')).status).toBe(401)
    const read = await call(`${url}/schemas`, 'GET', undefined, {
      authorization: `Bearer ${publisher}`,
    })
    expect(read.status).toBe(200)
  })

  it('keeps schemas across a SQLite restart, and two processes on one file agree at once', {
    timeout: 90_000,
  }, async () => {
    const store = `sqlite:${join(dir, 'shared', 'herald.db')}`
    const first = await start(['--store', store])
    expect((await register(first.url, { topic: 'orders/*', schema: V1 })).status).toBe(201)
    expect(await first.stop('SIGTERM')).toBe(0)

    const a = await start(['--store', store])
    const b = await start(['--store', store])
    const listed = await call(`${b.url}/schemas?topic=orders/1`, 'GET')
    expect(listed.body).toMatchObject({ topic: 'orders/*', version: 1, schema: V1 })
    // B validated against v1 (cached); v2 registered on A applies on B from the next publish.
    expect((await publish(b.url, { topic: 'orders/1', data: { total: 1 } })).status).toBe(200)
    expect(
      (await publish(b.url, { topic: 'orders/1', data: { total: 1, currency: 'EUR' } })).status,
    ).toBe(400)
    expect((await register(a.url, { topic: 'orders/*', schema: V2 })).status).toBe(201)
    const after = await publish(b.url, { topic: 'orders/1', data: { total: 2, currency: 'EUR' } })
    expect(after.status, JSON.stringify(after.body)).toBe(200)
    // A stricter registration on A refuses on B at once (new schema: `none` lets it through).
    const strict = { type: 'object', required: ['id'] }
    expect(
      (await register(a.url, { topic: 'orders/*', schema: strict, compatibility: 'none' })).status,
    ).toBe(201)
    const refused = await publish(b.url, { topic: 'orders/1', data: { total: 3 } })
    expect(refused.body.error?.details).toMatchObject({ schema: { version: 3 }, rule: 'required' })
    // Registrations from both nodes number one sequence.
    expect(
      (await register(b.url, { topic: 'orders/*', schema: { ...strict, title: 'b' } })).body,
    ).toEqual({
      topic: 'orders/*',
      version: 4,
    })
    const log = await readLog(a.url, 'orders/*')
    expect(log.map((e) => e.data)).toEqual(['{"total":1}', '{"total":2,"currency":"EUR"}'])
  })

  for (const [name, startServer] of [
    ['redis', () => startRedisServer({ persistence: 'none' })],
    ['nats', () => startNatsServer()],
  ] as const) {
    it(`two nodes on ${name} agree: a version registered on one applies on the other at once, and survives a restart`, async () => {
      const server: BackendServer = await startServer()
      try {
        const store = `${server.url}?namespace=schemas`
        const [a, b] = await Promise.all([start(['--store', store]), start(['--store', store])])
        if (a === undefined || b === undefined) throw new Error('no nodes')
        // Both nodes publish first: a store whose appends answer the schema revision (Redis)
        // then validates against what it learned, and must still apply what another node
        // registers after.
        for (const node of [a, b]) {
          expect((await publish(node.url, { topic: 'warm/1', data: { any: 1 } })).status).toBe(200)
        }
        expect((await register(a.url, { topic: 'orders/*', schema: V1 })).status).toBe(201)
        const refused = await publish(b.url, { topic: 'orders/1', data: { total: 'x' } })
        expect(refused.body.error?.details).toMatchObject({ schema: { version: 1 }, rule: 'type' })
        expect(
          (await publish(b.url, { topic: 'orders/1', data: { total: 1, currency: 'EUR' } })).status,
        ).toBe(400)
        expect((await register(b.url, { topic: 'orders/*', schema: V2 })).status).toBe(201)
        expect(
          (await publish(a.url, { topic: 'orders/1', data: { total: 2, currency: 'EUR' } })).status,
        ).toBe(200)
        // Both nodes refuse a breaking change against the version the other registered.
        const { note: _note, ...withoutNote } = V2.properties
        expect(
          kinds(
            await register(a.url, {
              topic: 'orders/*',
              schema: { ...V2, properties: withoutNote },
            }),
          ),
        ).toEqual(['field-removed /properties/note'])
        await a.stop('SIGTERM')
        const c = await start(['--store', store])
        const listed = await call(`${c.url}/schemas`, 'GET')
        const all = listed.body.schemas as { topic: string; versions: { version: number }[] }[]
        expect(all.map((h) => [h.topic, h.versions.map((v) => v.version)])).toEqual([
          ['orders/*', [1, 2]],
        ])
        const log = await readLog(c.url, 'orders/*')
        expect(log.map((e) => e.data)).toEqual(['{"total":2,"currency":"EUR"}'])
      } finally {
        for (const hub of running.splice(0)) await hub.stop('SIGKILL')
        await server.dispose()
      }
    }, 120_000)
  }
})
