/**
 * Black-box: the real `herald serve` (memory store) over HTTP. Publish, subscribe, topic
 * patterns, replay, resets, validation and operations endpoints.
 */
import type { HubProcess } from '@herald/testkit'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let hub: HubProcess

async function publish(body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${hub.url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  }
}

let n = 0
/** A topic no other test uses. */
const fresh = (prefix = 't') => `${prefix}${n++}-${process.pid}`

beforeAll(async () => {
  hub = await startHubProcess({ args: ['--max-payload', '2048', '--heartbeat', '0'] })
})
afterAll(async () => {
  expect(await hub.stop()).toBe(0)
})

describe('operations endpoints', () => {
  it('answers /healthz, /readyz and /metrics', async () => {
    expect(await (await fetch(`${hub.url}/healthz`)).json()).toEqual({ status: 'ok' })
    expect(await (await fetch(`${hub.url}/readyz`)).json()).toEqual({ status: 'ready' })
    const metrics = await fetch(`${hub.url}/metrics`)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await metrics.text()
    for (const name of [
      'herald_connections',
      'herald_events_published_total',
      'herald_events_delivered_total',
      'herald_events_replayed_total',
      'herald_slow_consumers_closed_total',
      'herald_publish_to_write_seconds_bucket',
      'herald_store_seconds_bucket',
    ]) {
      expect(text, name).toContain(name)
    }
  })

  it('answers unknown paths 404 and wrong methods 405, as JSON errors', async () => {
    const missing = await fetch(`${hub.url}/nope`)
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe(
      'HERALD_NOT_FOUND',
    )
    const wrong = await fetch(`${hub.url}/publish`)
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('POST')
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe(
      'HERALD_METHOD_NOT_ALLOWED',
    )
  })

  it('counts subscribers per topic in /metrics', async () => {
    const topic = fresh('metrics')
    const stream = await openEventStream(`${hub.url}/events?topic=${topic}`)
    const text = await (await fetch(`${hub.url}/metrics`)).text()
    expect(text).toContain(`herald_subscribers{topic="${topic}"} 1`)
    stream.close()
  })
})

describe('publish and subscribe', () => {
  it('delivers live events on exact topics and patterns, JSON data serialised, strings as is', async () => {
    const base = fresh('orders')
    const exact = await openEventStream(`${hub.url}/events?topic=${base}/1`)
    const one = await openEventStream(`${hub.url}/events?topic=${base}/*`)
    const deep = await openEventStream(`${hub.url}/events?topic=${base}/**`)
    const first = await publish({
      topic: `${base}/1`,
      data: { total: 42 },
      event: 'created',
      id: 'client-7',
    })
    expect(first.status).toBe(200)
    expect(first.body.id).toMatch(/^\d{16}$/)
    const batch = await publish([
      { topic: `${base}/1/lines`, data: 'line\nadded' },
      { topic: `${base}/2`, data: 'plain text', retry: 2500 },
    ])
    expect(batch.status).toBe(200)
    const ids = batch.body.ids as string[]
    expect(ids).toHaveLength(2)
    expect((ids[0] as string) > (first.body.id as string)).toBe(true)

    const exactEvents = await exact.count(1)
    expect(exactEvents[0]).toEqual({
      type: 'created',
      data: '{"total":42}',
      lastEventId: first.body.id,
    })
    const oneEvents = await one.count(2)
    expect(oneEvents.map((e) => e.data)).toEqual(['{"total":42}', 'plain text'])
    const deepEvents = await deep.count(3)
    expect(deepEvents.map((e) => [e.lastEventId, e.data])).toEqual([
      [first.body.id, '{"total":42}'],
      [ids[0], 'line\nadded'],
      [ids[1], 'plain text'],
    ])
    for (const s of [exact, one, deep]) s.close()
  })

  it('resumes a multi-topic subscription from Last-Event-ID with one cursor, header or query', async () => {
    const a = fresh('a')
    const b = fresh('b')
    const ids: string[] = []
    for (let i = 0; i < 6; i++) {
      ids.push((await publish({ topic: i % 2 === 0 ? a : b, data: String(i) })).body.id as string)
      await publish({ topic: fresh('other'), data: 'noise' })
    }
    const byHeader = await openEventStream(`${hub.url}/events?topic=${a}&topic=${b}`, {
      'last-event-id': ids[1] as string,
    })
    expect((await byHeader.count(4)).map((e) => e.data)).toEqual(['2', '3', '4', '5'])
    const byQuery = await openEventStream(
      `${hub.url}/events?topic=${a}&topic=${b}&lastEventId=${ids[3]}`,
    )
    expect((await byQuery.count(2)).map((e) => e.data)).toEqual(['4', '5'])
    // Then live, on the same stream.
    const live = (await publish({ topic: b, data: 'live' })).body.id
    expect((await byHeader.count(5))[4]).toMatchObject({ data: 'live', lastEventId: live })
    byHeader.close()
    byQuery.close()
  })

  it('replays everything retained for the cursor earliest (Mercure), without a reset', async () => {
    const topic = fresh('earliest')
    await publish({ topic, data: 'first' })
    await publish({ topic, data: 'second' })
    const stream = await openEventStream(`${hub.url}/events?topic=${topic}`, {
      'last-event-id': 'earliest',
    })
    expect((await stream.count(2)).map((e) => e.data)).toEqual(['first', 'second'])
    stream.close()
  })

  it('sends herald.reset for an unknown cursor, then live events', async () => {
    const topic = fresh('reset')
    await publish({ topic, data: 'before' })
    const stream = await openEventStream(`${hub.url}/events?topic=${topic}`, {
      'last-event-id': 'not-a-cursor',
    })
    const [reset] = await stream.count(1)
    expect(reset?.type).toBe('herald.reset')
    const info = JSON.parse(reset?.data ?? '') as Record<string, unknown>
    expect(info).toMatchObject({ reason: 'unknown', lastEventId: 'not-a-cursor' })
    expect(info.oldestId).toMatch(/^\d{16}$/)
    expect(reset?.lastEventId).toBe(info.latestId)
    await publish({ topic, data: 'after' })
    expect((await stream.count(2))[1]?.data).toBe('after')
    stream.close()
  })

  it('accepts Mercure form posts and answers the update id as text (the SSE id there)', async () => {
    const topic = fresh('https://example.com/books/')
    const stream = await openEventStream(
      `${hub.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}`,
    )
    const response = await fetch(`${hub.url}/.well-known/mercure`, {
      method: 'POST',
      body: new URLSearchParams({
        topic,
        data: '{"title":"Dune"}',
        id: `urn:uuid:${topic.slice(-8)}`,
        type: 'book',
        retry: '3000',
      }),
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    const id = await response.text()
    expect(id).toBe(`urn:uuid:${topic.slice(-8)}`)
    expect((await stream.count(1))[0]).toEqual({
      type: 'book',
      data: '{"title":"Dune"}',
      lastEventId: id,
    })
    stream.close()
    // Mercure clients resume with ?lastEventID= (capital ID).
    const next = await fetch(`${hub.url}/.well-known/mercure`, {
      method: 'POST',
      body: new URLSearchParams({ topic, data: 'second' }),
    })
    const nextId = await next.text()
    expect(nextId).toMatch(/^urn:uuid:[0-9a-f-]{36}$/)
    const resumed = await openEventStream(
      `${hub.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}&lastEventID=${id}`,
    )
    expect((await resumed.count(1))[0]).toMatchObject({ data: 'second', lastEventId: nextId })
    resumed.close()
  })

  it('publishes once per Idempotency-Key: retries get the first answer', async () => {
    const topic = fresh('idem')
    const key = `key-${topic}`
    const body = { topic, data: 'once' }
    const [first, concurrent] = await Promise.all([
      publish(body, { 'idempotency-key': key }),
      publish(body, { 'idempotency-key': key }),
    ])
    expect(first.status).toBe(200)
    expect(concurrent.body.id).toBe(first.body.id)
    const retry = await publish(body, { 'idempotency-key': key })
    expect(retry.body.id).toBe(first.body.id)
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    const reused = await publish({ topic, data: 'other' }, { 'idempotency-key': key })
    expect(reused.status).toBe(422)
    expect((reused.body.error as { code: string }).code).toBe('HERALD_IDEMPOTENCY_KEY_REUSED')
    // A failed request is not remembered: the corrected one goes through with the same key.
    const failed = await publish({ topic: 'a b', data: 'x' }, { 'idempotency-key': `${key}-2` })
    expect(failed.status).toBe(400)
    expect((await publish(body, { 'idempotency-key': `${key}-2` })).status).toBe(200)
    const replay = await openEventStream(`${hub.url}/events?topic=${topic}&lastEventId=0`)
    const marker = await publish({ topic, data: 'marker' })
    const events = await replay.until((e) => e.some((x) => x.lastEventId === marker.body.id))
    expect(events.map((e) => e.data)).toEqual(['once', 'once', 'marker'])
    replay.close()
  })

  it('keeps private events from anonymous subscribers', async () => {
    const topic = fresh('private')
    const stream = await openEventStream(`${hub.url}/events?topic=${topic}`)
    await publish({ topic, data: 'secret', private: true })
    await publish({ topic, data: 'public' })
    expect((await stream.count(1)).map((e) => e.data)).toEqual(['public'])
    const replay = await openEventStream(`${hub.url}/events?topic=${topic}&lastEventId=0`)
    expect((await replay.count(1)).map((e) => e.data)).toEqual(['public'])
    expect(replay.events).toHaveLength(1)
    stream.close()
    replay.close()
  })
})

describe('validation', () => {
  async function expectError(
    body: unknown,
    status: number,
    code: string,
    headers: Record<string, string> = {},
  ) {
    const answer = await publish(body, headers)
    expect(answer.status, JSON.stringify(answer.body)).toBe(status)
    expect((answer.body.error as { code: string }).code).toBe(code)
    expect(typeof (answer.body.error as { message: string }).message).toBe('string')
  }

  it('refuses bad topics, fields and JSON with 400', async () => {
    await expectError({ topic: 'a b', data: 'x' }, 400, 'HERALD_INVALID_TOPIC')
    await expectError({ topic: 'a/*', data: 'x' }, 400, 'HERALD_INVALID_TOPIC')
    await expectError({ topic: '', data: 'x' }, 400, 'HERALD_INVALID_TOPIC')
    await expectError({ data: 'x' }, 400, 'HERALD_INVALID_TOPIC')
    await expectError({ topic: 't' }, 400, 'HERALD_INVALID_PUBLISH')
    await expectError({ topic: 't', data: 'x', extra: 1 }, 400, 'HERALD_INVALID_PUBLISH')
    await expectError({ topic: 't', data: 'x', private: 'yes' }, 400, 'HERALD_INVALID_PUBLISH')
    await expectError([], 400, 'HERALD_INVALID_PUBLISH')
    await expectError('{"topic":', 400, 'HERALD_INVALID_JSON')
    await expectError({ topic: 't', data: 'x', event: 'a\nb' }, 400, 'HERALD_INVALID_EVENT_TYPE')
    await expectError({ topic: 't', data: 'x', event: 'a\rb' }, 400, 'HERALD_INVALID_EVENT_TYPE')
    await expectError({ topic: 't', data: 'x', id: 'a\nid: 9' }, 400, 'HERALD_INVALID_EVENT_ID')
    await expectError({ topic: 't', data: 'x', retry: -1 }, 400, 'HERALD_INVALID_RETRY')
  })

  it('publishes nothing from a batch with one bad event (atomic)', async () => {
    const topic = fresh('atomic')
    await expectError(
      [
        { topic, data: 'ok' },
        { topic, data: 'bad', id: 'x\ny' },
      ],
      400,
      'HERALD_INVALID_EVENT_ID',
    )
    const replay = await openEventStream(`${hub.url}/events?topic=${topic}&lastEventId=0`)
    const marker = await publish({ topic, data: 'marker' })
    expect((await replay.count(1)).map((e) => e.lastEventId)).toEqual([marker.body.id])
    replay.close()
  })

  it('refuses payloads over --max-payload with 413 and invalid UTF-8 with 400', async () => {
    await expectError({ topic: 't', data: 'x'.repeat(2049) }, 413, 'HERALD_PAYLOAD_TOO_LARGE')
    await expectError({ topic: 't', data: 'é'.repeat(1025) }, 413, 'HERALD_PAYLOAD_TOO_LARGE')
    expect((await publish({ topic: 't', data: 'x'.repeat(2048) })).status).toBe(200)
    const big = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 't', data: 'y'.repeat(100_000) }),
    })
    expect(big.status).toBe(413)
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"topic":"t","data":"'),
      0xff,
      0xfe,
      0x22,
      0x7d,
    ])
    const utf8 = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: bytes,
    })
    expect(utf8.status).toBe(400)
    expect(((await utf8.json()) as { error: { code: string } }).error.code).toBe(
      'HERALD_INVALID_UTF8',
    )
  })

  it('refuses other content types with 415 and subscriptions without a valid topic with 400', async () => {
    const response = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    })
    expect(response.status).toBe(415)
    const tooMany = `?${Array.from({ length: 101 }, (_, i) => `topic=t${i}`).join('&')}`
    for (const query of ['', '?topic=', '?topic=a%20b', '?topic=a/**/b', tooMany]) {
      const stream = await openEventStream(`${hub.url}/events${query}`)
      expect(stream.status, query).toBe(400)
      expect(JSON.parse(stream.text).error.code).toBe('HERALD_INVALID_TOPIC')
    }
  })
})

describe('limits', () => {
  it('rate-limits publishes per caller with 429 and Retry-After', async () => {
    // One token per 100 s: the burst cannot refill between requests on however slow a machine.
    const limited = await startHubProcess({
      args: ['--publish-rate', '0.01', '--publish-burst', '2'],
    })
    try {
      const post = () =>
        fetch(`${limited.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 't', data: 'x' }),
        })
      expect((await post()).status).toBe(200)
      expect((await post()).status).toBe(200)
      const refused = await post()
      expect(refused.status).toBe(429)
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
        'HERALD_PUBLISH_RATE_LIMITED',
      )
    } finally {
      expect(await limited.stop()).toBe(0)
    }
  })

  it('applies per-topic retention (--retention-topic) and resets only the affected topics', async () => {
    const ruled = await startHubProcess({ args: ['--retention-topic', 'noisy/**=2'] })
    try {
      const send = async (topic: string) => {
        const response = await fetch(`${ruled.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic, data: topic }),
        })
        return ((await response.json()) as { id: string }).id
      }
      const start = await send('quiet/a')
      const ids: string[] = []
      for (const topic of ['noisy/1', 'noisy/2', 'noisy/3', 'noisy/4', 'quiet/b'])
        ids.push(await send(topic))
      const quiet = await openEventStream(`${ruled.url}/events?topic=quiet/*`, {
        'last-event-id': start,
      })
      expect((await quiet.count(1)).map((e) => e.data)).toEqual(['quiet/b'])
      quiet.close()
      const noisy = await openEventStream(`${ruled.url}/events?topic=noisy/**`, {
        'last-event-id': start,
      })
      const [reset] = await noisy.count(1)
      expect(reset?.type).toBe('herald.reset')
      expect(JSON.parse(reset?.data ?? '').reason).toBe('expired')
      noisy.close()
      // From the newest deleted noisy event, nothing was lost: the two kept ones replay.
      const kept = await openEventStream(`${ruled.url}/events?topic=noisy/**`, {
        'last-event-id': ids[1] as string,
      })
      expect((await kept.count(2)).map((e) => e.data)).toEqual(['noisy/3', 'noisy/4'])
      kept.close()
    } finally {
      expect(await ruled.stop()).toBe(0)
    }
  })

  it('answers allowed browser origins only (--cors-origin)', async () => {
    const cors = await startHubProcess({
      args: ['--cors-origin', 'https://app.example.com', '--cors-origin', 'https://*.example.org'],
    })
    try {
      const preflight = await fetch(`${cors.url}/publish`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
      })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
      const stream = await openEventStream(`${cors.url}/events?topic=c`, {
        origin: 'https://a.example.org',
      })
      expect(stream.status).toBe(200)
      expect(stream.headers.get('access-control-allow-origin')).toBe('https://a.example.org')
      stream.close()
      const other = await openEventStream(`${cors.url}/events?topic=c`, {
        origin: 'https://evil.example.net',
      })
      expect(other.headers.get('access-control-allow-origin')).toBeNull()
      other.close()
    } finally {
      expect(await cors.stop()).toBe(0)
    }
  })

  it('sends heartbeat comments on idle streams (--heartbeat)', async () => {
    const beating = await startHubProcess({ args: ['--heartbeat', '0.2'] })
    try {
      const response = await fetch(`${beating.url}/events?topic=hb`, {
        headers: { accept: 'text/event-stream' },
      })
      const reader = (response.body as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let text = ''
      // Ends on the first comment line; vitest's timeout bounds it if none ever comes.
      while (!/^:/m.test(text)) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`stream ended without a heartbeat: ${text}`)
        text += decoder.decode(value, { stream: true })
      }
      await reader.cancel()
    } finally {
      expect(await beating.stop()).toBe(0)
    }
  })

  it('resets cursors older than retention (--retention-events)', async () => {
    const small = await startHubProcess({ args: ['--retention-events', '3'] })
    try {
      const ids: string[] = []
      for (let i = 0; i < 6; i++) {
        const response = await fetch(`${small.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ topic: 'r', data: String(i) }),
        })
        ids.push(((await response.json()) as { id: string }).id)
      }
      const stream = await openEventStream(`${small.url}/events?topic=r`, {
        'last-event-id': ids[0] as string,
      })
      const [reset] = await stream.count(1)
      expect(reset?.type).toBe('herald.reset')
      expect(JSON.parse(reset?.data ?? '')).toEqual({
        reason: 'expired',
        lastEventId: ids[0],
        oldestId: ids[3],
        latestId: ids[5],
      })
      stream.close()
      // The newest deleted id still resumes exactly.
      const ok = await openEventStream(`${small.url}/events?topic=r`, {
        'last-event-id': ids[2] as string,
      })
      expect((await ok.count(3)).map((e) => e.data)).toEqual(['3', '4', '5'])
      ok.close()
    } finally {
      expect(await small.stop()).toBe(0)
    }
  })
})
