/**
 * Runtime independence: importing touches no DOM global, and a runtime without
 * MessageEvent still gets message events.
 */
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
