/**
 * Black-box: the real `herald serve` as a Mercure hub, one test per hub MUST/SHOULD rule of
 * the Mercure protocol (draft-dunglas-mercure-07, "classic", and the current spec, "current").
 * Each test is named after its rule id in docs/mercure.md; nothing is mocked.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { HubProcess } from '@herald/testkit'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { type JWTPayload, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const SECRET = 'mercure-spec-secret-0123456789abcdef'
const ORIGIN = 'http://app.example'
const DETAIL = 'https://mercure.rocks/authorization-detail'
const now = () => Math.floor(Date.now() / 1000)

let hub: HubProcess
let publisher: string

function jwt(payload: JWTPayload): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(SECRET))
}

const uid = () => randomUUID().slice(0, 8)

function url(params: [string, string][]): string {
  const u = new URL('/.well-known/mercure', hub.url)
  for (const [k, v] of params) u.searchParams.append(k, v)
  return u.href
}

async function publish(
  fields: [string, string][],
  token: string | null = publisher,
  extra: Record<string, string> = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...extra }
  if (token !== null) headers.authorization = `Bearer ${token}`
  return fetch(`${hub.url}/.well-known/mercure`, {
    method: 'POST',
    headers,
    body: new URLSearchParams(fields),
  })
}

async function publishOk(fields: [string, string][], token?: string): Promise<string> {
  const response = await publish(fields, token)
  const body = await response.text()
  expect(response.status, body).toBe(200)
  return body
}

beforeAll(async () => {
  hub = await startHubProcess({
    args: ['--jwt-secret', SECRET, '--query-token', '--cors-origin', ORIGIN, '--heartbeat', '0'],
  })
  publisher = await jwt({ mercure: { publish: ['*'] } })
})

afterAll(async () => {
  await hub?.stop()
})

describe('topic selectors', () => {
  it('C-SEL-1: the selector * matches every topic on /.well-known/mercure (and stays one segment on /events)', async () => {
    const topic = `https://example.com/deep/${uid()}/a/b`
    const all = await openEventStream(url([['topic', '*']]))
    const herald = await openEventStream(`${hub.url}/events?topic=*`)
    const marker = `m${uid()}`
    await publishOk([
      ['topic', topic],
      ['data', 'deep'],
    ])
    await publishOk([
      ['topic', marker],
      ['data', 'flat'],
    ])
    expect((await all.until((e) => e.some((x) => x.data === 'flat'))).map((e) => e.data)).toEqual(
      expect.arrayContaining(['deep', 'flat']),
    )
    // Herald's own `*` is one segment: the deep topic never reaches /events?topic=*.
    const seen = await herald.until((e) => e.some((x) => x.data === 'flat'))
    expect(seen.map((e) => e.data)).not.toContain('deep')
    all.close()
    herald.close()
  })

  it('C-SEL-2: a selector equal to the topic matches it (also a URI template compared as a string)', async () => {
    const literal = `https://example.com/t/{id}-${uid()}`
    const stream = await openEventStream(url([['topic', literal]]))
    await publishOk([
      ['topic', literal],
      ['data', 'same string'],
    ])
    expect((await stream.count(1))[0]?.data).toBe('same string')
    stream.close()
  })

  it('C-SEL-3: a URI template selector matches its expansions, one segment per simple expression', async () => {
    const base = `https://example.com/books-${uid()}`
    const stream = await openEventStream(url([['topic', `${base}/{id}`]]))
    await publishOk([
      ['topic', `${base}/1/reviews`],
      ['data', 'too deep'],
    ])
    await publishOk([
      ['topic', `${base}/other/x`],
      ['data', 'also deep'],
    ])
    await publishOk([
      ['topic', `${base}/1`],
      ['data', 'book 1'],
    ])
    expect((await stream.count(1)).map((e) => e.data)).toEqual(['book 1'])
    stream.close()
  })

  it('N-MATCH-1: match= (and match_exact=) compare byte for byte, never as templates', async () => {
    const base = `https://example.com/exact-${uid()}`
    const stream = await openEventStream(
      url([
        ['match', `${base}/{id}`],
        ['match_exact', `${base}/x`],
      ]),
    )
    await publishOk([
      ['topic', `${base}/1`],
      ['data', 'not exact'],
    ])
    await publishOk([
      ['topic', `${base}/x`],
      ['data', 'exact x'],
    ])
    await publishOk([
      ['topic', `${base}/{id}`],
      ['data', 'exact template'],
    ])
    expect((await stream.count(2)).map((e) => e.data)).toEqual(['exact x', 'exact template'])
    stream.close()
  })

  it('N-MATCH-2: match_urlpattern= selects by URL pattern (relative ones against the hub URL)', async () => {
    const base = `https://example.net/foo-${uid()}`
    const stream = await openEventStream(url([['match_urlpattern', `${base}/:random`]]))
    await publishOk([
      ['topic', `${base}/a/b`],
      ['data', 'no'],
    ])
    await publishOk([
      ['topic', `${base}/abc`],
      ['data', 'yes'],
    ])
    expect((await stream.count(1)).map((e) => e.data)).toEqual(['yes'])
    stream.close()
  })

  it('N-MATCH-3: an unknown match* parameter or a malformed pattern is refused with 400', async () => {
    for (const params of [
      [['match_regex', 'x']],
      [['MATCH', 'x']],
      [['match_urlpattern', 'https://example.net/(']],
      [['match_urlpattern', 'https://example.net/(a+)+b']],
      [['topic', 'a\u200bb']],
    ] as [string, string][][]) {
      const answer = await openEventStream(url(params))
      expect(answer.status, JSON.stringify(params)).toBe(400)
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'HERALD_INVALID_TOPIC' } })
    }
  })

  it('C-SUB-1: a subscription names at least one selector (400 otherwise)', async () => {
    const answer = await openEventStream(url([]))
    expect(answer.status).toBe(400)
  })
})

describe('publication', () => {
  it('C-PUB-1: several topic fields make ONE update, delivered once to a subscriber of any of them', async () => {
    const a = `https://example.com/a-${uid()}`
    const b = `https://example.com/b-${uid()}`
    const both = await openEventStream(
      url([
        ['topic', a],
        ['topic', b],
      ]),
    )
    const second = await openEventStream(url([['topic', b]]))
    const id = await publishOk([
      ['topic', a],
      ['topic', b],
      ['data', 'multi'],
    ])
    await publishOk([
      ['topic', b],
      ['data', 'after'],
    ])
    const got = await both.count(2)
    expect(got.map((e) => [e.data, e.lastEventId])).toEqual([
      ['multi', id],
      ['after', expect.any(String)],
    ])
    expect((await second.count(2)).map((e) => e.data)).toEqual(['multi', 'after'])
    both.close()
    second.close()
  })

  it('C-PUB-2: private with any value (on, 0, false, empty) is private', async () => {
    const topic = `https://example.com/p-${uid()}`
    const anonymous = await openEventStream(url([['topic', topic]]))
    for (const value of ['on', '0', 'false', 'off', '']) {
      await publishOk([
        ['topic', topic],
        ['data', `secret ${value}`],
        ['private', value],
      ])
    }
    await publishOk([
      ['topic', topic],
      ['data', 'public'],
    ])
    expect((await anonymous.count(1)).map((e) => e.data)).toEqual(['public'])
    anonymous.close()
  })

  it('C-PUB-3: the publisher id is the SSE id, and the 200 text/plain answer is that id', async () => {
    const topic = `https://example.com/id-${uid()}`
    const id = `urn:example:${uid()}`
    const stream = await openEventStream(url([['topic', topic]]))
    const response = await publish([
      ['topic', topic],
      ['data', 'x'],
      ['id', id],
    ])
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await response.text()).toBe(id)
    expect((await stream.count(1))[0]?.lastEventId).toBe(id)
    stream.close()
  })

  it('C-PUB-4: without an id the hub generates a valid IRI (urn:uuid), also the SSE id', async () => {
    const topic = `https://example.com/gen-${uid()}`
    const stream = await openEventStream(url([['topic', topic]]))
    const id = await publishOk([
      ['topic', topic],
      ['data', 'x'],
    ])
    // A random UUID (version 4), or one the store derives from the cursor (version 8:
    // memory and SQLite, EventStore.derivesUpdateIds).
    expect(id).toMatch(
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[48][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
    expect((await stream.count(1))[0]?.lastEventId).toBe(id)
    stream.close()
  })

  it('N-PUB-1: a duplicate update id is refused with 409, nothing published', async () => {
    const topic = `https://example.com/dup-${uid()}`
    const id = `urn:example:dup-${uid()}`
    const stream = await openEventStream(url([['topic', topic]]))
    await publishOk([
      ['topic', topic],
      ['data', 'first'],
      ['id', id],
    ])
    const again = await publish([
      ['topic', topic],
      ['data', 'second'],
      ['id', id],
    ])
    expect(again.status).toBe(409)
    expect(await again.json()).toMatchObject({ error: { code: 'HERALD_DUPLICATE_EVENT_ID' } })
    await publishOk([
      ['topic', topic],
      ['data', 'third'],
    ])
    expect((await stream.count(2)).map((e) => e.data)).toEqual(['first', 'third'])
    stream.close()
  })

  it('N-PUB-2: reserved values are refused with 400 (id #..., id earliest, type mercure, the hub namespace, topic *)', async () => {
    const cases: [string, string][][] = [
      [
        ['topic', 'x'],
        ['id', '#1'],
      ],
      [
        ['topic', 'x'],
        ['id', 'earliest'],
      ],
      [
        ['topic', 'x'],
        ['type', 'mercure'],
      ],
      [['topic', '/.well-known/mercure/subscriptions/x/y']],
      [['topic', `${'https://hub.example'}/.well-known/%6Dercure/subscriptions/x`]],
      [['topic', '*']],
      [
        ['topic', 'x'],
        ['retry', '1s'],
      ],
    ]
    for (const fields of cases) {
      const response = await publish(fields)
      expect(response.status, JSON.stringify(fields)).toBe(400)
    }
  })

  it('N-PUB-3: unknown fields are ignored', async () => {
    const topic = `https://example.com/future-${uid()}`
    const stream = await openEventStream(url([['topic', topic]]))
    await publishOk([
      ['topic', topic],
      ['data', 'ok'],
      ['future_field', '1'],
    ])
    expect((await stream.count(1))[0]?.data).toBe('ok')
    stream.close()
  })
})

describe('authorization', () => {
  it('C-AUTH-1: a publisher must be granted EVERY topic of the update (403, nothing published)', async () => {
    const allowed = `https://example.com/allowed-${uid()}`
    const token = await jwt({ mercure: { publish: [allowed] } })
    const stream = await openEventStream(url([['topic', allowed]]))
    const refused = await publish(
      [
        ['topic', allowed],
        ['topic', 'https://example.com/other'],
        ['data', 'no'],
      ],
      token,
    )
    expect(refused.status).toBe(403)
    await publishOk(
      [
        ['topic', allowed],
        ['data', 'yes'],
      ],
      token,
    )
    expect((await stream.count(1)).map((e) => e.data)).toEqual(['yes'])
    stream.close()
    const none = await publish([['topic', allowed]], null)
    expect(none.status).toBe(401)
    const empty = await publish([['topic', allowed]], await jwt({ mercure: { publish: [] } }))
    expect(empty.status).toBe(403)
  })

  it('C-AUTH-2: mercure.publish and mercure.subscribe hold URI-template selectors', async () => {
    const base = `https://example.com/tpl-${uid()}`
    const token = await jwt({ mercure: { publish: [`${base}/{id}`], subscribe: [`${base}/{id}`] } })
    expect((await publish([['topic', `${base}/1`]], token)).status).toBe(200)
    expect((await publish([['topic', `${base}/1/2`]], token)).status).toBe(403)
    const stream = await openEventStream(url([['topic', `${base}/{id}`]]), {
      authorization: `Bearer ${token}`,
    })
    await publishOk([
      ['topic', `${base}/7`],
      ['data', 'private 7'],
      ['private', 'on'],
    ])
    expect((await stream.count(1))[0]?.data).toBe('private 7')
    stream.close()
  })

  it('N-AUTH-1: authorization_details grant publish and subscribe by exact match or URL pattern', async () => {
    const base = `https://example.com/ad-${uid()}`
    const token = await jwt({
      authorization_details: [
        {
          type: DETAIL,
          actions: ['publish'],
          topics: [{ match: `${base}/:id`, match_type: 'urlpattern' }],
        },
        { type: DETAIL, actions: ['subscribe'], topics: [{ match: `${base}/1` }] },
      ],
    })
    expect(
      (
        await publish(
          [
            ['topic', `${base}/1`],
            ['data', 'a'],
          ],
          token,
        )
      ).status,
    ).toBe(200)
    expect((await publish([['topic', 'https://example.com/elsewhere']], token)).status).toBe(403)
    const stream = await openEventStream(url([['match_urlpattern', `${base}/:id`]]), {
      authorization: `Bearer ${token}`,
    })
    await publishOk([
      ['topic', `${base}/2`],
      ['data', 'private 2'],
      ['private', 'on'],
    ])
    await publishOk([
      ['topic', `${base}/1`],
      ['data', 'private 1'],
      ['private', 'on'],
    ])
    expect((await stream.count(1)).map((e) => e.data)).toEqual(['private 1'])
    stream.close()
    const malformed = await jwt({
      authorization_details: [{ type: DETAIL, actions: [], topics: [] }],
    })
    const refused = await openEventStream(url([['topic', base]]), {
      authorization: `Bearer ${malformed}`,
    })
    expect(refused.status).toBe(401)
  })

  it('C-AUTH-3: a private update reaches a subscriber granted only one of its alternate topics', async () => {
    const user = `https://example.com/users/${uid()}`
    const book = `https://example.com/books/${uid()}`
    const token = await jwt({ mercure: { subscribe: [`${user}/{?topic}`] } })
    const stream = await openEventStream(url([['topic', 'https://example.com/books/{id}']]), {
      authorization: `Bearer ${token}`,
    })
    await publishOk([
      ['topic', book],
      ['data', 'not mine'],
      ['private', 'on'],
    ])
    await publishOk([
      ['topic', book],
      ['topic', `${user}/?topic=${encodeURIComponent(book)}`],
      ['data', 'mine'],
      ['private', 'on'],
    ])
    expect((await stream.count(1)).map((e) => e.data)).toEqual(['mine'])
    stream.close()
  })

  it('C-AUTH-4: the Authorization header wins over the query token, which wins over the cookie', async () => {
    const topic = `https://example.com/prec-${uid()}`
    const good = await jwt({ mercure: { subscribe: ['*'] } })
    const bad = 'not.a.token'
    const cookie = (t: string) => `mercureAuthorization=${t}`
    // Header good, query and cookie bad: the header is used.
    const a = await openEventStream(
      url([
        ['topic', topic],
        ['authorization', bad],
      ]),
      {
        authorization: `Bearer ${good}`,
        cookie: cookie(bad),
      },
    )
    expect(a.status).toBe(200)
    a.close()
    // Query good, cookie bad: the query token is used.
    const b = await openEventStream(
      url([
        ['topic', topic],
        ['authorization', good],
      ]),
      {
        cookie: cookie(bad),
      },
    )
    expect(b.status).toBe(200)
    b.close()
    // Header bad, cookie good: the header is used, and it is invalid.
    const c = await openEventStream(url([['topic', topic]]), {
      authorization: `Bearer ${bad}`,
      cookie: cookie(good),
    })
    expect(c.status).toBe(401)
    // The current spec's cookie name is read too (a bad token there is refused, so it is read).
    const e = await openEventStream(url([['topic', topic]]), {
      cookie: `__Secure-mercure_access_token=${bad}`,
    })
    expect(e.status).toBe(401)
    // Query bad, cookie good: the query token is used, and it is invalid.
    const d = await openEventStream(
      url([
        ['topic', topic],
        ['authorization', bad],
      ]),
      {
        cookie: cookie(good),
      },
    )
    expect(d.status).toBe(401)
  })

  it('N-AUTH-3: 401 and 403 carry RFC 6750 Bearer challenges (invalid_token, insufficient_scope; no code without a token)', async () => {
    const none = await publish([['topic', 'x']], null)
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="herald"')
    const forged = await publish([['topic', 'x']], 'not.a.token')
    expect(forged.status).toBe(401)
    expect(forged.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
    const malformed = await jwt({
      authorization_details: [{ type: DETAIL, actions: [], topics: [] }],
    })
    const details = await openEventStream(url([['topic', 'x']]), {
      authorization: `Bearer ${malformed}`,
    })
    expect(details.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
    const narrow = await jwt({ mercure: { publish: ['https://example.com/only'] } })
    const scope = await publish([['topic', 'https://example.com/other']], narrow)
    expect(scope.status).toBe(403)
    expect(scope.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/)
  })

  it('C-AUTH-5: answers to query-token requests carry Cache-Control: private', async () => {
    const token = await jwt({ mercure: { subscribe: ['*'] } })
    const withQuery = await openEventStream(
      url([
        ['topic', 'x'],
        ['authorization', token],
      ]),
    )
    expect(withQuery.headers.get('cache-control')).toMatch(/\bprivate\b/)
    withQuery.close()
    const withHeader = await openEventStream(url([['topic', 'x']]), {
      authorization: `Bearer ${token}`,
    })
    expect(withHeader.headers.get('cache-control')).not.toMatch(/\bprivate\b/)
    withHeader.close()
  })

  it('C-AUTH-6: the connection is closed when the token expires', async () => {
    const token = await jwt({ mercure: { subscribe: ['*'] }, exp: now() + 2 })
    const stream = await openEventStream(url([['topic', 'x']]), {
      authorization: `Bearer ${token}`,
    })
    expect(stream.status).toBe(200)
    await stream.ended
  })
})

describe('reconnection', () => {
  async function three(topic: string): Promise<string[]> {
    const ids: string[] = []
    for (const data of ['one', 'two', 'three'])
      ids.push(
        await publishOk([
          ['topic', topic],
          ['data', data],
        ]),
      )
    return ids
  }

  it('C-REC-1: a Last-Event-ID header resumes after that update id', async () => {
    const topic = `https://example.com/rec-${uid()}`
    const ids = await three(topic)
    const stream = await openEventStream(url([['topic', topic]]), {
      'last-event-id': ids[0] as string,
    })
    expect((await stream.count(2)).map((e) => [e.data, e.lastEventId])).toEqual([
      ['two', ids[1]],
      ['three', ids[2]],
    ])
    stream.close()
  })

  it('C-REC-2: the lastEventID (draft-07) and last_event_id (current) query parameters resume; the header wins', async () => {
    const topic = `https://example.com/recq-${uid()}`
    const ids = await three(topic)
    for (const name of ['lastEventID', 'last_event_id']) {
      const stream = await openEventStream(
        url([
          ['topic', topic],
          [name, ids[1] as string],
        ]),
      )
      expect(
        (await stream.count(1)).map((e) => e.data),
        name,
      ).toEqual(['three'])
      stream.close()
    }
    const both = await openEventStream(
      url([
        ['topic', topic],
        ['last_event_id', ids[1] as string],
      ]),
      {
        'last-event-id': ids[0] as string,
      },
    )
    expect((await both.count(2)).map((e) => e.data)).toEqual(['two', 'three'])
    both.close()
  })

  it('C-REC-3: earliest replays every retained update of the selected topics', async () => {
    const topic = `https://example.com/early-${uid()}`
    await three(topic)
    const stream = await openEventStream(
      url([
        ['topic', topic],
        ['lastEventID', 'earliest'],
      ]),
    )
    expect((await stream.count(3)).map((e) => e.data)).toEqual(['one', 'two', 'three'])
    stream.close()
  })

  it('C-REC-4: every subscription answers Last-Event-ID (and Mercure-Last-Event-ID): the event before the first sent, or earliest', async () => {
    const topic = `https://example.com/hdr-${uid()}`
    const ids = await three(topic)
    const resumed = await openEventStream(url([['topic', topic]]), {
      'last-event-id': ids[1] as string,
    })
    expect(resumed.headers.get('last-event-id')).toBe(ids[1])
    expect(resumed.headers.get('mercure-last-event-id')).toBe(ids[1])
    resumed.close()
    const earliest = await openEventStream(
      url([
        ['topic', topic],
        ['last_event_id', 'earliest'],
      ]),
    )
    expect(earliest.headers.get('last-event-id')).toBe('earliest')
    earliest.close()
    // No cursor: the newest update of the hub, from which the stream goes on without a gap.
    const fresh = await openEventStream(url([['topic', topic]]))
    expect(fresh.headers.get('last-event-id')).toBe(ids[2])
    const next = await publishOk([
      ['topic', topic],
      ['data', 'four'],
    ])
    expect((await fresh.count(1))[0]?.lastEventId).toBe(next)
    fresh.close()
    // An unknown id: the stream starts live, and the header says from where.
    const unknown = await openEventStream(url([['topic', topic]]), {
      'last-event-id': 'urn:uuid:gone',
    })
    expect(unknown.headers.get('last-event-id')).toBe(next)
    unknown.close()
  })

  it('N-REC-1: replayed private updates are checked against the current token', async () => {
    const topic = `https://example.com/rp-${uid()}`
    const first = await publishOk([
      ['topic', topic],
      ['data', 'public'],
    ])
    await publishOk([
      ['topic', topic],
      ['data', 'private'],
      ['private', 'on'],
    ])
    await publishOk([
      ['topic', topic],
      ['data', 'public 2'],
    ])
    const anonymous = await openEventStream(url([['topic', topic]]), { 'last-event-id': first })
    expect((await anonymous.count(1)).map((e) => e.data)).toEqual(['public 2'])
    anonymous.close()
    const token = await jwt({ mercure: { subscribe: [topic] } })
    const granted = await openEventStream(url([['topic', topic]]), {
      'last-event-id': first,
      authorization: `Bearer ${token}`,
    })
    expect((await granted.count(2)).map((e) => e.data)).toEqual(['private', 'public 2'])
    granted.close()
  })

  it('N-REC-2: a hub cursor (what POST /publish answers) resumes on the Mercure endpoint too', async () => {
    const topic = `https://example.com/cur-${uid()}`
    const response = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${publisher}` },
      body: JSON.stringify([
        { topic, data: 'a' },
        { topic, data: 'b' },
      ]),
    })
    const { ids } = (await response.json()) as { ids: string[] }
    const stream = await openEventStream(url([['topic', topic]]), {
      'last-event-id': ids[0] as string,
    })
    const [event] = await stream.count(1)
    expect(event?.data).toBe('b')
    // On the Mercure endpoint the SSE id is the update id (generated), not the cursor.
    expect(event?.lastEventId).toMatch(/^urn:uuid:/)
    stream.close()
  })
})

describe('browsers', () => {
  it('N-CORS-1: preflights for the Mercure endpoint allow Last-Event-ID and Authorization from an allowed origin', async () => {
    const response = await fetch(`${hub.url}/.well-known/mercure`, {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'last-event-id, authorization',
      },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    expect(response.headers.get('access-control-allow-methods')).toMatch(/\bGET\b/)
    expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(
      /last-event-id/,
    )
    expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toMatch(
      /authorization/,
    )
    const stream = await openEventStream(url([['topic', 'x']]), { origin: ORIGIN })
    expect(stream.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    expect(stream.headers.get('access-control-expose-headers')).toMatch(/Last-Event-ID/)
    stream.close()
  })
})

describe('active subscriptions (herald serve --mercure-subscriptions), across processes', () => {
  let dir: string
  let a: HubProcess
  let b: HubProcess
  const api = (h: HubProcess, path = '', token?: string) =>
    fetch(`${h.url}/.well-known/mercure/subscriptions${path}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    })

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-presence-'))
    const args = ['--jwt-secret', SECRET, '--mercure-subscriptions', '--heartbeat', '0']
    const store = ['--store', `sqlite:${join(dir, 'hub.db')}`]
    a = await startHubProcess({ args: [...args, ...store] })
    b = await startHubProcess({ args: [...args, ...store] })
  })

  afterAll(async () => {
    await a?.stop()
    await b?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('C-ACT-1: a subscription publishes a private JSON-LD update when it starts and when it ends, seen on every node', async () => {
    const watcher = await jwt({
      mercure: { subscribe: ['/.well-known/mercure/subscriptions/{topic}/{subscriber}'] },
    })
    const selector = `https://example.com/{selector}-${uid()}`
    const template = `/.well-known/mercure/subscriptions/${encodeURIComponent(selector).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}/{subscriber}`
    // On node B: one watcher with the grant, one anonymous (private updates never reach it).
    const watching = await openEventStream(
      `${b.url}/.well-known/mercure?topic=${encodeURIComponent(template)}`,
      { authorization: `Bearer ${watcher}` },
    )
    const marker = `marker-${uid()}`
    const anonymous = await openEventStream(
      `${b.url}/.well-known/mercure?topic=${encodeURIComponent(template)}&topic=${marker}`,
    )
    // The subscriber joins on node A, with a payload in its token, then leaves.
    const member = await jwt({ mercure: { subscribe: [selector], payload: { user: 'ana' } } })
    const joined = await openEventStream(
      `${a.url}/.well-known/mercure?topic=${encodeURIComponent(selector)}`,
      {
        authorization: `Bearer ${member}`,
      },
    )
    const [join] = await watching.count(1)
    const doc = JSON.parse(join?.data ?? '{}') as Record<string, unknown>
    expect(doc).toMatchObject({
      '@context': 'https://mercure.rocks/',
      type: 'Subscription',
      topic: selector,
      active: true,
      payload: { user: 'ana' },
    })
    expect(doc.subscriber).toMatch(/^urn:uuid:/)
    expect(doc.id).toBe(
      template.replace('{subscriber}', encodeURIComponent(doc.subscriber as string)),
    )
    joined.close()
    const [, leave] = await watching.count(2)
    expect(JSON.parse(leave?.data ?? '{}')).toMatchObject({ id: doc.id, active: false })
    // The anonymous watcher saw neither: its stream was live, the public marker arrives alone.
    await fetch(`${b.url}/.well-known/mercure`, {
      method: 'POST',
      headers: { authorization: `Bearer ${publisher}` },
      body: new URLSearchParams({ topic: marker, data: marker }),
    })
    await anonymous.count(1)
    expect(anonymous.events.map((e) => e.data)).toEqual([marker])
    watching.close()
    anonymous.close()
  })

  it('C-ACT-2: the subscriptions API lists the active subscriptions of every node: all, per topic, one (404 when gone)', async () => {
    const reader = await jwt({
      mercure: { subscribe: ['/.well-known/mercure/subscriptions{/topic}{/subscriber}'] },
    })
    const selector = `https://example.com/api-${uid()}`
    // A watcher on node B sees the join, so the log holds it before the API is asked.
    const watching = await openEventStream(
      `${b.url}/.well-known/mercure?topic=${encodeURIComponent('/.well-known/mercure/subscriptions/{topic}/{subscriber}')}`,
      { authorization: `Bearer ${reader}` },
    )
    const stream = await openEventStream(
      `${a.url}/.well-known/mercure?topic=${encodeURIComponent(selector)}`,
    )
    const enc = encodeURIComponent(selector)
    const about = (active: boolean) => (events: { data: string }[]) =>
      events.some(
        (e) =>
          e.data.includes(`"topic":${JSON.stringify(selector)}`) &&
          e.data.includes(`"active":${active}`),
      )
    await watching.until(about(true))
    // Served by node B, which never saw the connection.
    const response = await api(b, `/${enc}`, reader)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/ld+json')
    expect(response.headers.get('link')).toMatch(/rel="mercure"/)
    const listed = (await response.json()) as Record<string, unknown>
    expect(listed).toMatchObject({
      '@context': 'https://mercure.rocks/',
      id: `/.well-known/mercure/subscriptions/${enc}`,
      type: 'Subscriptions',
      subscriptions: [{ type: 'Subscription', topic: selector, active: true }],
    })
    expect(typeof listed.lastEventID).toBe('string')
    const sub = (listed.subscriptions as { subscriber: string }[])[0]?.subscriber as string
    const all = (await (await api(b, '', reader)).json()) as { subscriptions: { topic: string }[] }
    expect(all.subscriptions.map((s) => s.topic)).toContain(selector)
    const one = await api(b, `/${enc}/${encodeURIComponent(sub)}`, reader)
    expect(one.status).toBe(200)
    expect(await one.json()).toMatchObject({
      topic: selector,
      subscriber: sub,
      active: true,
      lastEventID: expect.any(String),
    })
    // Authorization: no token 401, a token not matching the path 403.
    expect((await api(b, '', undefined)).status).toBe(401)
    expect(
      (await api(b, '', await jwt({ mercure: { subscribe: ['https://example.com/x'] } }))).status,
    ).toBe(403)
    stream.close()
    await watching.until(about(false))
    const gone = (await api(b, `/${enc}/${encodeURIComponent(sub)}`, reader)).status
    watching.close()
    expect(gone).toBe(404)
  })
})
