/**
 * Real Chromium, real `herald serve`: an image published as bytes reaches a page through its
 * event (a plain `EventSource`), `fetchBlob` from `@herald/client/blob` fetches it across
 * origins (CORS), the page decodes and draws it, and a second fetch of the blob is answered
 * by the browser's HTTP cache or a 304 (the hub's answer is immutable, with a strong ETag).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'
import { type HubProcess, launchChromium, startHubProcess } from '@herald/testkit'
import { build } from 'esbuild'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(bytes: Buffer): number {
  let c = 0xffffffff
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** A `width` x `height` PNG, every pixel `rgb`. */
function png(width: number, height: number, rgb: [number, number, number]): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8-bit RGB, no interlace
  const row = Buffer.concat([
    Buffer.from([0]),
    Buffer.alloc(width * 3).map((_, i) => rgb[i % 3] as number),
  ])
  const pixels = Buffer.concat(Array.from({ length: height }, () => row))
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

let browser: Browser
let hub: HubProcess
let pages: Server
let origin = ''

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../src/blob.ts', import.meta.url))],
    alias: {
      '@herald/protocol': fileURLToPath(new URL('../../protocol/src/index.ts', import.meta.url)),
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
  })
  const script = bundle.outputFiles[0]?.text ?? ''
  pages = createServer((req, res) => {
    if (req.url === '/blob.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
      return
    }
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end(
        '<!doctype html><img id="shot"><script type="module">import { fetchBlob } from "/blob.js"; window.fetchBlob = fetchBlob</script>',
      )
  })
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`
  hub = await startHubProcess({ args: ['--cors-origin', origin] })
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await hub?.stop()
  await new Promise((resolve) => pages?.close(resolve))
})

describe('a blob in real Chromium', () => {
  it('an image published as bytes shows up through its event; the second fetch is cached', async () => {
    const page = await browser.newPage()
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Network.enable')
    const seen: { url: string; status: number; cached: boolean }[] = []
    const servedFromCache = new Set<string>()
    const urls = new Map<string, string>()
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url))
    cdp.on('Network.requestServedFromCache', (e) => servedFromCache.add(e.requestId))
    cdp.on('Network.responseReceived', (e) => {
      if (!e.response.url.includes('/blobs/')) return
      seen.push({
        url: e.response.url,
        status: e.response.status,
        cached:
          e.response.fromDiskCache === true ||
          e.response.fromPrefetchCache === true ||
          servedFromCache.has(e.requestId),
      })
    })
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => 'fetchBlob' in window)
    const hubUrl = hub.url
    // The page subscribes, then tells the test it is ready; the test publishes the bytes.
    const shown = page.evaluate(async (hubUrl) => {
      const { fetchBlob } = window as unknown as {
        fetchBlob: (data: string, options: { base: string }) => Promise<Blob>
      }
      const source = new EventSource(`${hubUrl}/events?topic=cams/door`)
      await new Promise((resolve) => source.addEventListener('open', resolve, { once: true }))
      ;(window as unknown as { ready: boolean }).ready = true
      const event = await new Promise<MessageEvent<string>>((resolve) =>
        source.addEventListener('message', resolve, { once: true }),
      )
      source.close()
      const blob: Blob = await fetchBlob(event.data, { base: source.url })
      const img = document.getElementById('shot') as HTMLImageElement
      img.src = URL.createObjectURL(blob)
      await img.decode()
      const canvas = document.createElement('canvas')
      canvas.width = img.naturalWidth
      canvas.height = img.naturalHeight
      const context = canvas.getContext('2d') as CanvasRenderingContext2D
      context.drawImage(img, 0, 0)
      const pixel = [...context.getImageData(5, 5, 1, 1).data]
      // The second fetch of the same URL: the browser's cache (immutable) or a 304.
      const url = new URL(JSON.parse(event.data).blob, source.url).href
      const again = await fetch(url)
      return {
        type: blob.type,
        width: img.naturalWidth,
        height: img.naturalHeight,
        pixel,
        url,
        againStatus: again.status,
        againSize: (await again.arrayBuffer()).byteLength,
      }
    }, hubUrl)
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true)
    const image = png(40, 30, [200, 30, 60])
    const published = await fetch(`${hub.url}/publish?topic=cams/door`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(image),
    })
    expect(published.status).toBe(200)
    const result = await shown
    expect(result).toMatchObject({
      type: 'image/png',
      width: 40,
      height: 30,
      pixel: [200, 30, 60, 255],
      againStatus: 200,
      againSize: image.length,
    })
    const fetches = seen.filter((s) => s.url === result.url)
    expect(fetches.length, JSON.stringify(seen)).toBeGreaterThanOrEqual(1)
    expect(fetches[0]?.status).toBe(200)
    expect(fetches[0]?.cached).toBe(false)
    // The second: never a second transfer of the bytes.
    const second = fetches[1]
    expect(second, JSON.stringify(fetches)).toBeDefined()
    const fromCache = second?.cached === true || second?.status === 304
    expect(fromCache, JSON.stringify(fetches)).toBe(true)
    await page.close()
  }, 60_000)
})
