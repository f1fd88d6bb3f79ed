/**
 * Runtime independence: importing touches no DOM global, and a runtime without
 * MessageEvent still gets message events.
 */
import { spawn } from 'node:child_process'
import { afterEach, expect, it, vi } from 'vitest'
import { SSE_HEADERS, startServer } from './sse-server.js'

afterEach(() => {
  vi.unstubAllGlobals()
  vi.resetModules()
})

it('touches no DOM global at import time', async () => {
  const touched: string[] = []
  const names = ['document', 'window', 'location', 'navigator', 'self', 'MessageEvent']
  const saved = names.map(
    (name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)] as const,
  )
  for (const name of names) {
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get() {
        touched.push(name)
        return undefined
      },
    })
  }
  try {
    vi.resetModules()
    const client = await import('../src/index.js')
    expect(typeof client.EventSource).toBe('function')
    expect(typeof client.subscribe).toBe('function')
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor)
      else delete (globalThis as Record<string, unknown>)[name]
    }
  }
  expect(touched).toEqual([])
})

it('dispatches compatible message events where MessageEvent does not exist', async () => {
  const server = await startServer(({ res }) => {
    res.writeHead(200, SSE_HEADERS).write('id: 3\nevent: note\ndata: hi\n\n')
  })
  vi.stubGlobal('MessageEvent', undefined)
  vi.resetModules()
  const { EventSource } = await import('../src/index.js')
  const source = new EventSource(`${server.origin}/`)
  try {
    const event = await new Promise<Event>((resolve) => source.addEventListener('note', resolve))
    expect(event).toBeInstanceOf(Event)
    expect(event).toMatchObject({
      type: 'note',
      data: 'hi',
      lastEventId: '3',
      origin: server.origin,
    })
  } finally {
    source.close()
    await server.close()
  }
})

it('leaves nothing behind: a Node process exits once its sources are closed', async () => {
  const server = await startServer(({ res }) => {
    res.writeHead(200, SSE_HEADERS).write('retry: 60000\nid: 1\ndata: hi\n\n')
  })
  // Long watchdog and retry timers: any left running would keep the process alive.
  const script = `
    import { EventSource, subscribe } from '@herald/client'
    const url = process.argv[1]
    const stop = new AbortController()
    for await (const event of subscribe(url, { signal: stop.signal, inactivityTimeoutMs: 60000 })) {
      stop.abort()
    }
    const source = new EventSource(url, { inactivityTimeoutMs: 60000 })
    source.onmessage = () => source.close()
  `
  try {
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', script, `${server.origin}/`],
      { stdio: 'inherit' },
    )
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        resolve('still running after 10 s')
      }, 10_000)
      child.once('exit', (exitCode, signal) => {
        clearTimeout(timer)
        resolve(exitCode ?? signal ?? -1)
      })
    })
    expect(code).toBe(0)
    expect(server.requests).toHaveLength(2)
  } finally {
    await server.close()
  }
})
