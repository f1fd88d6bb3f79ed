/**
 * `@herald/client/blob` against the real `herald serve` (with `--blob-inline 64`): fetches
 * the bytes an event names, uses the inline copy of a small blob without a request, refuses
 * bytes that do not match the event's sha256, reports a blob that left the log as a 404.
 */
import { randomBytes } from 'node:crypto'
import { fetchBlob, isBlobRef } from '@herald/client/blob'
import { isHeraldError } from '@herald/protocol'
import { type HubProcess, openEventStream, startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let hub: HubProcess
beforeAll(async () => {
  hub = await startHubProcess({ args: ['--blob-inline', '64'] })
})
afterAll(async () => {
  await hub?.stop()
})

/** Publishes `bytes` to `topic` and returns the event's data and the stream URL. */
async function publish(topic: string, bytes: Uint8Array) {
  const base = `${hub.url}/events?topic=${topic}`
  const stream = await openEventStream(base)
  const response = await fetch(`${hub.url}/publish?topic=${topic}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
  })
  expect(response.status).toBe(200)
  const [event] = await stream.count(1)
  stream.close()
  return { data: event?.data ?? '', base }
}

const refuse = (() => {
  throw new Error('no request expected')
}) as unknown as typeof fetch

describe('fetchBlob', () => {
  it('fetches the bytes an event names, as a Blob of its type', async () => {
    const bytes = randomBytes(5000)
    const { data, base } = await publish('blob/a', bytes)
    expect(isBlobRef(JSON.parse(data))).toBe(true)
    const blob = await fetchBlob(data, { base })
    expect(blob.type).toBe('application/octet-stream')
    expect(Buffer.from(await blob.arrayBuffer()).equals(bytes)).toBe(true)
  })

  it('uses the inline base64 of a small blob without a request (--blob-inline)', async () => {
    const bytes = randomBytes(64)
    const { data, base } = await publish('blob/b', bytes)
    expect(JSON.parse(data).base64).toBe(bytes.toString('base64'))
    const blob = await fetchBlob(data, { base, fetch: refuse })
    expect(Buffer.from(await blob.arrayBuffer()).equals(bytes)).toBe(true)
    // One byte more: not inlined.
    const larger = await publish('blob/b', randomBytes(65))
    expect(JSON.parse(larger.data).base64).toBeUndefined()
  })

  it('refuses bytes that do not match the sha256 (HERALD_CLIENT_BLOB_INTEGRITY)', async () => {
    const { data, base } = await publish('blob/c', randomBytes(1000))
    const tampered: typeof fetch = async (input, init) => {
      const real = await fetch(input, init)
      const body = new Uint8Array(await real.arrayBuffer())
      body[0] = (body[0] ?? 0) ^ 0xff
      return new Response(body, { status: real.status })
    }
    const error = await fetchBlob(data, { base, fetch: tampered }).catch((e: unknown) => e)
    expect(isHeraldError(error) && error.code).toBe('HERALD_CLIENT_BLOB_INTEGRITY')
    expect(
      await fetchBlob(data, { base, fetch: tampered, verify: false }).catch(() => 'x'),
    ).not.toBe('x')
  })

  it('a blob that is not in the log is a 404 (HERALD_CLIENT_HTTP_STATUS); non-blob data is refused', async () => {
    const ref = { blob: 'blobs/AAAAAAAAAAAAAAAAAAAAAA', contentType: 'x/y', size: 1, sha256: '0' }
    const error = await fetchBlob(ref, { base: `${hub.url}/events` }).catch((e: unknown) => e)
    expect(isHeraldError(error) && [error.code, error.status]).toEqual([
      'HERALD_CLIENT_HTTP_STATUS',
      404,
    ])
    const bad = await fetchBlob('{"data":1}', { base: hub.url }).catch((e: unknown) => e)
    expect(isHeraldError(bad) && bad.code).toBe('HERALD_CLIENT_INVALID_JSON')
  })
})
