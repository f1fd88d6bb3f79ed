/**
 * Black-box: binary payloads on the real `herald serve`: a binary body becomes a blob and a
 * small JSON event (notify, then fetch); `GET /blobs/{id}` with ETag, 304, ranges (206, 416),
 * HEAD and compression; grants and private blobs; retention removes the blob with its event;
 * an oversized blob is refused with nothing appended; the SQLite store keeps blobs across a
 * restart.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import type { HubProcess } from '@herald/testkit'
import { openEventStream, startHubProcess } from '@herald/testkit'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const dir = mkdtempSync(join(tmpdir(), 'herald-blobs-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A publish answer or an error. */
interface Answer {
  id: string
  ids: string[]
  error: { code: string; message: string }
}

interface BlobEvent {
  blob: string
  contentType: string
  size: number
  sha256: string
  base64?: string
}

async function publishBytes(
  url: string,
  topic: string,
  bytes: Uint8Array,
  type = 'application/octet-stream',
  headers: Record<string, string> = {},
  query = '',
) {
  const response = await fetch(`${url}/publish?topic=${encodeURIComponent(topic)}${query}`, {
    method: 'POST',
    headers: { 'content-type': type, ...headers },
    body: new Uint8Array(bytes),
  })
  return {
    status: response.status,
    headers: response.headers,
    json: (await response.json()) as Answer,
  }
}

async function publishJson(url: string, topic: string, data: string): Promise<string> {
  const response = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic, data }),
  })
  expect(response.status).toBe(200)
  return ((await response.json()) as { id: string }).id
}

/** Publishes bytes while subscribed, and returns the event and the blob's absolute URL. */
async function roundTrip(hub: HubProcess, topic: string, bytes: Uint8Array, type: string) {
  const eventsUrl = `${hub.url}/events?topic=${encodeURIComponent(topic)}`
  const stream = await openEventStream(eventsUrl)
  const answer = await publishBytes(hub.url, topic, bytes, type)
  expect(answer.status, JSON.stringify(answer.json)).toBe(200)
  const [event] = await stream.count(1)
  stream.close()
  expect(event?.lastEventId).toBe(answer.json.id)
  const data = JSON.parse(event?.data ?? '') as BlobEvent
  // The event's `blob` is a reference relative to the stream's URL.
  return { id: answer.json.id, data, url: new URL(data.blob, eventsUrl).href }
}

/** A raw GET (no automatic decompression), for the compression cases. */
function rawGet(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>(
    (resolve, reject) => {
      const req = request(url, { headers }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        )
      })
      req.on('error', reject)
      req.end()
    },
  )
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

describe('binary publish and GET /blobs/{id} (memory store)', () => {
  let hub: HubProcess
  beforeAll(async () => {
    hub = await startHubProcess({
      args: ['--retention-events', '4', '--max-blob', '300000', '--blob-sweep', '0.05'],
    })
  })
  afterAll(async () => {
    expect(await hub.stop()).toBe(0)
  })

  it('round trip: the event names the blob (notify), the URL serves the exact bytes (fetch)', async () => {
    const bytes = randomBytes(200 * 1024)
    const { data, url } = await roundTrip(hub, 'files/a', bytes, 'image/png')
    expect(data).toEqual({
      blob: expect.stringMatching(/^blobs\/[\w-]{22}$/),
      contentType: 'image/png',
      size: bytes.length,
      sha256: sha(bytes),
    })
    const response = await fetch(url)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('image/png')
    expect(response.headers.get('etag')).toBe(`"${sha(bytes)}"`)
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(response.headers.get('accept-ranges')).toBe('bytes')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true)

    // Conditional: the same validator gets a 304 without a body.
    const again = await fetch(url, { headers: { 'if-none-match': `"${sha(bytes)}"` } })
    expect(again.status).toBe(304)
    expect(again.headers.get('etag')).toBe(`"${sha(bytes)}"`)
    expect((await again.arrayBuffer()).byteLength).toBe(0)
    const other = await fetch(url, { headers: { 'if-none-match': `"${'0'.repeat(64)}"` } })
    expect(other.status).toBe(200)
    await other.arrayBuffer()

    // HEAD: the headers of the GET, no body.
    const head = await fetch(url, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe(String(bytes.length))
    expect((await head.arrayBuffer()).byteLength).toBe(0)
  })

  it('ranges: 206 with Content-Range (first, middle, suffix, open-ended); 416 past the end', async () => {
    const bytes = randomBytes(10_000)
    const { url } = await roundTrip(hub, 'files/r', bytes, 'application/octet-stream')
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=5000-5009', 5000, 5009],
      ['bytes=-10', 9990, 9999],
      ['bytes=9000-', 9000, 9999],
      ['bytes=9990-20000', 9990, 9999],
    ]
    for (const [range, start, end] of cases) {
      const response = await fetch(url, { headers: { range } })
      expect(response.status, range).toBe(206)
      expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/10000`)
      const body = Buffer.from(await response.arrayBuffer())
      expect(body.equals(bytes.subarray(start, end + 1)), range).toBe(true)
    }
    const past = await fetch(url, { headers: { range: 'bytes=10000-' } })
    expect(past.status).toBe(416)
    expect(past.headers.get('content-range')).toBe('bytes */10000')
    expect(((await past.json()) as Answer).error.code).toBe('HERALD_RANGE_NOT_SATISFIABLE')
    // If-Range with another validator: the whole blob.
    const stale = await fetch(url, { headers: { range: 'bytes=0-9', 'if-range': '"stale"' } })
    expect(stale.status).toBe(200)
    expect((await stale.arrayBuffer()).byteLength).toBe(10_000)
  })

  it('compresses compressible types (br, gzip) but never a range; leaves images alone', async () => {
    const text = Buffer.from('time,reading,unit\n1700000000,42,celsius\n'.repeat(1500))
    const { url } = await roundTrip(hub, 'files/t', text, 'text/csv; charset=utf-8')
    const br = await rawGet(url, { 'accept-encoding': 'gzip, br' })
    expect(br.status).toBe(200)
    expect(br.headers['content-encoding']).toBe('br')
    expect(br.headers.vary).toBe('Accept-Encoding')
    expect(br.body.length).toBeLessThan(text.length / 10)
    expect(brotliDecompressSync(br.body).equals(text)).toBe(true)
    const gzip = await rawGet(url, { 'accept-encoding': 'gzip' })
    expect(gzip.headers['content-encoding']).toBe('gzip')
    expect(gunzipSync(gzip.body).equals(text)).toBe(true)
    // Each representation has its own strong validator; either revalidates.
    expect(gzip.headers.etag).toBe(`"${sha(text)}-gzip"`)
    const revalidated = await rawGet(url, {
      'accept-encoding': 'gzip',
      'if-none-match': String(gzip.headers.etag),
    })
    expect(revalidated.status).toBe(304)
    const identity = await rawGet(url, {})
    expect(identity.headers['content-encoding']).toBeUndefined()
    expect(identity.body.equals(text)).toBe(true)
    const ranged = await rawGet(url, { 'accept-encoding': 'gzip, br', range: 'bytes=0-31' })
    expect(ranged.status).toBe(206)
    expect(ranged.headers['content-encoding']).toBeUndefined()
    expect(ranged.body.equals(text.subarray(0, 32))).toBe(true)
    const image = await roundTrip(hub, 'files/t', Buffer.alloc(5000, 1), 'image/png')
    const png = await rawGet(image.url, { 'accept-encoding': 'gzip, br' })
    expect(png.headers['content-encoding']).toBeUndefined()
    expect(png.body.length).toBe(5000)
  })

  it('retention removes the blob with its event: 404 once the event left the log', async () => {
    const bytes = randomBytes(3000)
    const { url } = await roundTrip(hub, 'files/old', bytes, 'application/octet-stream')
    expect((await fetch(url)).status).toBe(200)
    // The log keeps 4 events: four more push the blob's event out.
    for (let i = 0; i < 4; i++) await publishJson(hub.url, 'other', `push-${i}`)
    const gone = await fetch(url)
    expect(gone.status).toBe(404)
    expect(((await gone.json()) as Answer).error.code).toBe('HERALD_BLOB_NOT_FOUND')
  })

  it('refuses a blob over --max-blob (413) and appends nothing; 415 without ?topic', async () => {
    const marker = await publishJson(hub.url, 'files/big', 'before')
    const refused = await publishBytes(hub.url, 'files/big', randomBytes(300_001))
    expect(refused.status).toBe(413)
    expect(refused.json.error.code).toBe('HERALD_PAYLOAD_TOO_LARGE')
    await publishJson(hub.url, 'files/big', 'after')
    const replay = await openEventStream(`${hub.url}/events?topic=files/big`, {
      'last-event-id': marker,
    })
    const [next] = await replay.count(1)
    replay.close()
    expect(next?.data).toBe('after')
    const noTopic = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: randomBytes(10),
    })
    expect(noTopic.status).toBe(415)
    await noTopic.arrayBuffer()
  })

  it('unknown and malformed blob ids are 404', async () => {
    for (const id of ['AAAAAAAAAAAAAAAAAAAAAA', 'not%2Fan-id', '']) {
      const response = await fetch(`${hub.url}/blobs/${id}`)
      expect(response.status, id).toBe(404)
      await response.arrayBuffer()
    }
  })

  it('an Idempotency-Key retry answers the same id and stores one blob', async () => {
    const bytes = randomBytes(1000)
    const headers = { 'idempotency-key': `k-${randomBytes(4).toString('hex')}` }
    const first = await publishBytes(hub.url, 'files/i', bytes, 'image/png', headers)
    const second = await publishBytes(hub.url, 'files/i', bytes, 'image/png', headers)
    expect(second.status).toBe(200)
    expect(second.json.id).toBe(first.json.id)
    expect(second.headers.get('idempotent-replayed')).toBe('true')
    const different = await publishBytes(
      hub.url,
      'files/i',
      randomBytes(1000),
      'image/png',
      headers,
    )
    expect(different.status).toBe(422)
  })
})

describe('blob grants (HS256 auth)', () => {
  const SECRET = 'test-secret-for-herald-blobs-0123456789'
  const token = (herald: Record<string, string[]>) =>
    new SignJWT({ herald, exp: Math.floor(Date.now() / 1000) + 600 })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET))
  let hub: HubProcess
  beforeAll(async () => {
    hub = await startHubProcess({ env: { HERALD_JWT_SECRET: SECRET } })
  })
  afterAll(async () => {
    expect(await hub.stop()).toBe(0)
  })

  it('a blob has its topic grants; a private blob stays private; caches are private', async () => {
    const publisher = await token({ publish: ['files/*'], subscribe: ['files/*'] })
    const stranger = await token({ subscribe: ['other/*'] })
    const bytes = randomBytes(500)
    const anonymous = await publishBytes(hub.url, 'files/p', bytes)
    expect(anonymous.status).toBe(401)
    const auth = { authorization: `Bearer ${publisher}` }
    const forbidden = await publishBytes(hub.url, 'orders/1', bytes, 'image/png', auth)
    expect(forbidden.status).toBe(403)

    const open = await publishBytes(hub.url, 'files/p', bytes, 'image/png', auth)
    const hidden = await publishBytes(hub.url, 'files/p', bytes, 'image/png', auth, '&private=true')
    expect([open.status, hidden.status]).toEqual([200, 200])
    // The blob URLs, from the events (read back by a subscriber with the grant).
    const stream = await openEventStream(`${hub.url}/events?topic=files/p&lastEventId=0`, auth)
    const events = await stream.count(2)
    stream.close()
    const [openUrl, hiddenUrl] = events.map(
      (e) => new URL((JSON.parse(e.data) as BlobEvent).blob, `${hub.url}/events`).href,
    )
    const get = async (url: string | undefined, bearer?: string) => {
      const response = await fetch(url as string, {
        headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` },
      })
      await response.arrayBuffer()
      return response
    }
    // Anonymous subscribers may read public topics (the hub's default): the public blob too,
    // never the private one.
    expect((await get(openUrl)).status).toBe(200)
    expect((await get(hiddenUrl)).status).toBe(401)
    expect((await get(openUrl, stranger)).status).toBe(403)
    expect((await get(hiddenUrl, stranger)).status).toBe(403)
    const granted = await get(hiddenUrl, publisher)
    expect(granted.status).toBe(200)
    expect(granted.headers.get('cache-control')).toBe('private, max-age=31536000, immutable')
  })
})

describe('blobs on SQLite', () => {
  it('survive a restart; retention deletes the file; a refused blob leaves no file', async () => {
    const db = join(dir, 'sqlite', 'herald.db')
    const blobDir = `${db}.blobs/v1`
    const args = ['--store', `sqlite:${db}`, '--retention-events', '3', '--blob-sweep', '0.05']
    const first = await startHubProcess({ args: [...args, '--max-blob', '100000'] })
    const bytes = randomBytes(50_000)
    const { url, data } = await roundTrip(first, 'files/s', bytes, 'image/webp')
    const refused = await publishBytes(first.url, 'files/s', randomBytes(100_001))
    expect(refused.status).toBe(413)
    expect(readdirSync(blobDir)).toEqual([
      `${data.blob.slice('blobs/'.length)}.blob`,
      `${data.blob.slice('blobs/'.length)}.link`,
    ])
    expect(await first.stop()).toBe(0)

    const second = await startHubProcess({ args })
    try {
      const path = new URL(url).pathname
      const response = await fetch(`${second.url}${path}`)
      expect(response.status).toBe(200)
      expect(response.headers.get('etag')).toBe(`"${sha(bytes)}"`)
      expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true)
      for (let i = 0; i < 3; i++) await publishJson(second.url, 'other', `push-${i}`)
      expect((await fetch(`${second.url}${path}`)).status).toBe(404)
      // The sweep deletes the bytes: wait for the file to go (bounded).
      const file = join(blobDir, `${data.blob.slice('blobs/'.length)}.blob`)
      const deadline = Date.now() + 10_000
      while (existsSync(file) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(existsSync(file)).toBe(false)
    } finally {
      expect(await second.stop()).toBe(0)
    }
  })
})

describe.each([
  ['redis', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'],
  ['nats', process.env.NATS_URL ?? 'nats://127.0.0.1:4222'],
])('blobs on %s (a shared backend, two nodes)', (backend, base) => {
  const namespace = `blobs-test-${randomBytes(4).toString('hex')}`
  const store = `${base}?namespace=${namespace}`
  afterAll(async () => {
    // Leave the shared backend as it was.
    if (backend === 'redis') {
      const { createClient } = await import('@redis/client')
      const client = createClient({ url: base, RESP: 2 })
      await client.connect()
      for await (const keys of client.scanIterator({ MATCH: `herald:v1:{${namespace}}:*` })) {
        if (keys.length > 0) await client.del(keys)
      }
      await client.close()
    } else {
      const { connect } = await import('@nats-io/transport-node')
      const { jetstreamManager } = await import('@nats-io/jetstream')
      const nc = await connect({ servers: base })
      const jsm = await jetstreamManager(nc)
      for await (const name of jsm.streams.names()) {
        if (name.includes(`herald-v1-${namespace}`)) await jsm.streams.delete(name)
      }
      await nc.close()
    }
  })

  it('a blob published on one node is served by another; retention removes it', async () => {
    const args = ['--store', store, '--retention-events', '3']
    const [a, b] = await Promise.all([startHubProcess({ args }), startHubProcess({ args })])
    try {
      const bytes = randomBytes(300_000)
      const { url } = await roundTrip(a, 'files/n', bytes, 'image/avif')
      const path = new URL(url).pathname
      const response = await fetch(`${b.url}${path}`)
      expect(response.status).toBe(200)
      expect(response.headers.get('etag')).toBe(`"${sha(bytes)}"`)
      expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true)
      for (let i = 0; i < 3; i++) await publishJson(b.url, 'other', `push-${i}`)
      const gone = await fetch(`${a.url}${path}`)
      expect(gone.status).toBe(404)
      await gone.arrayBuffer()
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })
})
