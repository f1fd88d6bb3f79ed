/**
 * The OpenAPI 3.1 document the hub serves, checked against the REAL hub (`herald serve` with
 * auth and an admin token): every endpoint the hub lists is documented, every `$ref`
 * resolves, and real answers (successes and refusals) have a documented status and content
 * type, their JSON bodies valid against the documented schema (Ajv, JSON Schema 2020-12).
 */
import { mintToken } from '@herald/hub'
import { type HubProcess, startHubProcess } from '@herald/testkit'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const SECRET = 'openapi-test-secret-0123456789abcdef'
const ADMIN = 'openapi-admin-token-0123456789'

type Doc = {
  openapi: string
  servers: Array<{ url: string }>
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>
  >
}

let hub: HubProcess
let doc: Doc
let ajv: InstanceType<typeof Ajv2020>
let publisher = ''
let subscriber = ''
let admin = ''

const pointer = (...parts: string[]) =>
  `herald#/${parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`

/** Checks one real answer against the operation `method path`; returns the checked body. */
async function check(method: string, path: string, response: Response): Promise<unknown> {
  const operation = doc.paths[path]?.[method.toLowerCase()]
  expect(operation, `${method} ${path} documented`).toBeDefined()
  const status = String(response.status)
  const documented = operation?.responses[status]
  expect(documented, `${method} ${path} -> ${status} documented`).toBeDefined()
  const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? ''
  const content = documented?.content ?? {}
  expect(Object.keys(content), `${method} ${path} -> ${status} content type ${type}`).toContain(
    type,
  )
  if (type !== 'application/json') {
    await response.body?.cancel()
    return undefined
  }
  const body: unknown = await response.json()
  const validate = ajv.getSchema(
    pointer('paths', path, method.toLowerCase(), 'responses', status, 'content', type, 'schema'),
  )
  expect(validate, 'schema compiles').toBeDefined()
  expect(
    validate?.(body),
    `${method} ${path} -> ${status}: ${JSON.stringify(validate?.errors)}`,
  ).toBe(true)
  return body
}

const call = (path: string, init: RequestInit & { token?: string } = {}) => {
  const { token, headers, ...rest } = init
  return fetch(`${hub.url}${path}`, {
    ...rest,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
  })
}
const publish = (body: unknown, token?: string, headers: Record<string, string> = {}) =>
  call('/publish', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(token === undefined ? {} : { token }),
  })

beforeAll(async () => {
  hub = await startHubProcess({
    args: ['--jwt-secret', SECRET, '--admin-token', ADMIN, '--max-payload', '1024'],
  })
  publisher = await mintToken({ secret: SECRET, publish: ['orders/*'] })
  subscriber = await mintToken({ secret: SECRET, subscribe: ['orders/*'] })
  admin = await mintToken({ secret: SECRET, admin: true })
  const response = await call('/openapi.json')
  expect(response.status).toBe(200)
  doc = (await response.json()) as Doc
  ajv = new Ajv2020({ strict: false, allErrors: true })
  ajv.addSchema(doc as object, 'herald')
})

afterAll(async () => {
  await hub?.stop()
})

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 with this hub as its server, and every $ref resolves', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.servers).toEqual([{ url: hub.url }])
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map(
      (m) => m[1] as string,
    )
    expect(refs.length).toBeGreaterThan(5)
    for (const ref of new Set(refs)) {
      let node: unknown = doc
      for (const part of ref.split('/'))
        node = (node as Record<string, unknown> | undefined)?.[part]
      expect(node, ref).toBeDefined()
    }
  })

  it('documents every endpoint the hub lists', async () => {
    const index = (await check('GET', '/', await call('/'))) as { endpoints: string[] }
    expect(index.endpoints.length).toBeGreaterThan(5)
    for (const endpoint of index.endpoints) {
      const [method, path] = endpoint.split(' ') as [string, string]
      expect(doc.paths[path]?.[method.toLowerCase()], endpoint).toBeDefined()
    }
  })

  it('matches real answers: health, index, page, metrics', async () => {
    await check('GET', '/healthz', await call('/healthz'))
    await check('GET', '/readyz', await call('/readyz'))
    await check('GET', '/', await call('/', { headers: { accept: 'text/html' } }))
    await check('GET', '/metrics', await call('/metrics'))
    await check('GET', '/metrics', await call('/metrics', { token: publisher }))
    await check('GET', '/metrics', await call('/metrics', { token: ADMIN }))
    await check('GET', '/openapi.json', await call('/openapi.json'))
  })

  it('matches real answers: publish, its refusals, Mercure', async () => {
    const one = (await check(
      'POST',
      '/publish',
      await publish({ topic: 'orders/1', data: { a: 1 } }, publisher),
    )) as {
      id: string
    }
    expect(one.id).toMatch(/^\d+$/)
    await check(
      'POST',
      '/publish',
      await publish(
        [
          { topic: 'orders/1', data: 1 },
          { topic: 'orders/2', data: 'x' },
        ],
        publisher,
      ),
    )
    await check('POST', '/publish', await publish('{nope', publisher))
    await check('POST', '/publish', await publish({ topic: 'orders/*', data: 1 }, publisher))
    await check('POST', '/publish', await publish({ topic: 'orders/1', data: 1 }))
    await check('POST', '/publish', await publish({ topic: 'other/1', data: 1 }, publisher))
    await check(
      'POST',
      '/publish',
      await publish({ topic: 'orders/1', data: 'x'.repeat(2000) }, publisher),
    )
    await check(
      'POST',
      '/publish',
      await call('/publish', {
        method: 'POST',
        token: publisher,
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      }),
    )
    const key = { 'idempotency-key': 'k-1' }
    await check('POST', '/publish', await publish({ topic: 'orders/1', data: 1 }, publisher, key))
    await check('POST', '/publish', await publish({ topic: 'orders/1', data: 2 }, publisher, key))
    const form = await call('/.well-known/mercure', {
      method: 'POST',
      token: publisher,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ topic: 'orders/9', data: 'hi' }).toString(),
    })
    await check('POST', '/.well-known/mercure', form)
    // Active subscriptions are off on this hub: the documented 404.
    await check(
      'GET',
      '/.well-known/mercure/subscriptions',
      await call('/.well-known/mercure/subscriptions', { token: subscriber }),
    )
  })

  it('matches real answers: the schema registry and a schema violation', async () => {
    const register = (body: unknown, token?: string) =>
      call('/schemas', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        ...(token === undefined ? {} : { token }),
      })
    const schema = { type: 'object', properties: { n: { type: 'number' } } }
    await check('POST', '/schemas', await register({ topic: 'orders/*', schema }, admin))
    await check('POST', '/schemas', await register({ topic: 'orders/*', schema }, admin))
    await check('POST', '/schemas', await register({ topic: 'orders/*', schema }))
    await check('POST', '/schemas', await register({ topic: 'orders/*', schema }, publisher))
    await check(
      'POST',
      '/schemas',
      await register({ topic: 'orders/*', schema: { type: 'x' } }, admin),
    )
    await check(
      'POST',
      '/schemas',
      await register({ topic: 'orders/*', schema: { ...schema, required: ['n'] } }, admin),
    )
    await check('GET', '/schemas', await call('/schemas', { token: subscriber }))
    await check('GET', '/schemas', await call('/schemas?topic=orders/1', { token: subscriber }))
    await check('GET', '/schemas', await call('/schemas?topic=none', { token: subscriber }))
    await check('GET', '/schemas', await call('/schemas'))
    const violation = await check(
      'POST',
      '/publish',
      await publish({ topic: 'orders/1', data: { n: 'x' } }, publisher),
    )
    expect(violation).toMatchObject({ error: { code: 'HERALD_SCHEMA_VIOLATION' } })
  })

  it('matches real answers: streams and their refusals', async () => {
    const accept = { accept: 'text/event-stream' }
    await check(
      'GET',
      '/events',
      await call('/events?topic=orders/1', { headers: accept, token: subscriber }),
    )
    await check('GET', '/events', await call('/events', { headers: accept }))
    await check(
      'GET',
      '/events',
      await call('/events?topic=other/1', { headers: accept, token: subscriber }),
    )
    await check(
      'GET',
      '/events',
      await call('/events?topic=orders/1', { headers: accept, token: 'bad' }),
    )
    await check(
      'GET',
      '/.well-known/mercure',
      await call('/.well-known/mercure?topic=orders/1', { headers: accept }),
    )
  })

  it('matches real answers: the dashboard API', async () => {
    const session = (await check(
      'GET',
      '/dashboard/api/session',
      await call('/dashboard/api/session', { token: admin }),
    )) as {
      admin: boolean
    }
    expect(session).toEqual({ gated: true, admin: true })
    await check(
      'GET',
      '/dashboard/api/session',
      await call('/dashboard/api/session', { token: publisher }),
    )
    await check(
      'GET',
      '/dashboard/api/clients',
      await call('/dashboard/api/clients?limit=10', { token: ADMIN }),
    )
    await check(
      'GET',
      '/dashboard/api/clients',
      await call('/dashboard/api/clients?offset=-1', { token: ADMIN }),
    )
    await check('GET', '/dashboard/api/clients', await call('/dashboard/api/clients'))
    await check(
      'POST',
      '/dashboard/api/publish',
      await call('/dashboard/api/publish', {
        method: 'POST',
        token: ADMIN,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'any/topic', data: 1 }),
      }),
    )
    await check(
      'GET',
      '/dashboard/api/tail',
      await call('/dashboard/api/tail?topic=a//b', { token: ADMIN }),
    )
    await check(
      'GET',
      '/dashboard/api/tail',
      await call('/dashboard/api/tail?topic=**', { token: subscriber }),
    )
    await check('GET', '/dashboard/api/stats', await call('/dashboard/api/stats'))
  })

  it('unknown paths and wrong methods answer the documented error shape', async () => {
    const validate = ajv.getSchema('herald#/components/schemas/Error')
    const missing = await call('/nope')
    expect(missing.status).toBe(404)
    expect(validate?.(await missing.json())).toBe(true)
    const wrong = await call('/healthz', { method: 'POST' })
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toContain('GET')
    expect(validate?.(await wrong.json())).toBe(true)
  })

  it('matches real answers: a binary publish and GET /blobs/{id} (200, 206, 304, 403, 404, 416)', async () => {
    const published = (await check(
      'POST',
      '/publish',
      await call('/publish?topic=orders/blob', {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: new Uint8Array(2048).fill(7),
        token: publisher,
      }),
    )) as { id: string }
    expect(published.id).toMatch(/^\d+$/)
    const stream = await call(`/events?topic=orders/blob&lastEventId=0`, {
      token: subscriber,
      headers: { accept: 'text/event-stream' },
    })
    const reader = stream.body?.getReader()
    let text = ''
    while (!text.includes('"sha256"')) {
      const chunk = await reader?.read()
      if (chunk === undefined || chunk.done) break
      text += new TextDecoder().decode(chunk.value)
    }
    await reader?.cancel()
    const blob = /"blob":"(blobs\/[\w-]+)"/.exec(text)?.[1] as string
    const documented = (status: number) =>
      expect(doc.paths['/blobs/{id}']?.get?.responses[String(status)], `${status}`).toBeDefined()
    const whole = await call(`/${blob}`, { token: subscriber })
    expect(whole.status).toBe(200)
    documented(200)
    const etag = whole.headers.get('etag') as string
    await whole.arrayBuffer()
    const part = await call(`/${blob}`, { token: subscriber, headers: { range: 'bytes=0-9' } })
    expect(part.status).toBe(206)
    documented(206)
    await part.arrayBuffer()
    const cached = await call(`/${blob}`, { token: subscriber, headers: { 'if-none-match': etag } })
    expect(cached.status).toBe(304)
    documented(304)
    await check('GET', '/blobs/{id}', await call(`/${blob}`, { token: publisher }))
    await check(
      'GET',
      '/blobs/{id}',
      await call('/blobs/AAAAAAAAAAAAAAAAAAAAAA', { token: subscriber }),
    )
    await check(
      'GET',
      '/blobs/{id}',
      await call(`/${blob}`, { token: subscriber, headers: { range: 'bytes=5000-' } }),
    )
  })
})
