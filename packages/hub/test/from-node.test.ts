/**
 * `fromNode` on a real node:http server: a plain target on a host already seen skips the URL
 * parse (the URL is built on first read); anything else is parsed at once, so a bad Host or
 * target is still a 400 and paths are normalised as the URL parser does.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { isHeraldError } from '@herald/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromNode } from '../src/http-io.js'

let server: Server
let port: number

beforeAll(async () => {
  server = createServer((req, res) => {
    let body: unknown
    try {
      const view = fromNode(req, false)
      const path = view.path
      body = { path, href: view.url.href, pathname: view.url.pathname }
    } catch (error) {
      body = { error: isHeraldError(error) ? error.code : String(error) }
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
})

/** One raw request with this Host and target; the JSON answer. */
function ask(host: string, target: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('end', () => resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))))
    socket.on('error', reject)
    socket.end(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
  })
}

describe('fromNode', () => {
  it('gives the same path and URL on the fast path as the URL parser does', async () => {
    // First sight of the host: parsed; the second request takes the fast path.
    for (let i = 0; i < 2; i++) {
      expect(await ask('hub.example:8080', '/publish')).toEqual({
        path: '/publish',
        href: 'http://hub.example:8080/publish',
        pathname: '/publish',
      })
    }
    expect(await ask('hub.example:8080', '/a-b/c_d/e')).toMatchObject({
      path: '/a-b/c_d/e',
      href: 'http://hub.example:8080/a-b/c_d/e',
    })
  })

  it('parses targets the URL parser rewrites, even on a known host', async () => {
    await ask('known.example', '/publish')
    expect(await ask('known.example', '/x/../publish')).toMatchObject({ path: '/publish' })
    expect(await ask('known.example', '/%70ublish')).toMatchObject({ path: '/%70ublish' })
    expect(await ask('known.example', '/publish?topic=a')).toMatchObject({
      path: '/publish',
      href: 'http://known.example/publish?topic=a',
    })
    // `//x/y` is scheme-relative to the URL parser: never taken as the plain path it looks like.
    const tricky = new URL('//evil.example/publish', 'http://known.example')
    expect(await ask('known.example', '//evil.example/publish')).toEqual({
      path: tricky.pathname,
      href: tricky.href,
      pathname: tricky.pathname,
    })
  })

  it('refuses a bad Host with 400 whatever the target', async () => {
    expect(await ask('bad host', '/publish')).toEqual({ error: 'HERALD_INVALID_REQUEST' })
    expect(await ask('999.1.1.1', '/publish')).toEqual({ error: 'HERALD_INVALID_REQUEST' })
    expect(await ask('h:99999', '/publish')).toEqual({ error: 'HERALD_INVALID_REQUEST' })
  })
})
