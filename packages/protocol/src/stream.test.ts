import { describe, expect, it } from 'vitest'
import { createParserStream } from './stream.js'
import type { ServerSentEvent } from './types.js'

async function readAll(stream: ReadableStream<ServerSentEvent>): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = []
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return events
    events.push(value)
  }
}

describe('createParserStream', () => {
  it('turns a byte stream into events and reports retry and comments', async () => {
    const bytes = new TextEncoder().encode(
      ': hi\nretry: 250\nid: 1\ndata: é\n\ndata: two\n\ndata: cut',
    )
    const retries: number[] = []
    const comments: string[] = []
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        // One byte per chunk: the worst chunking a network can produce.
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]))
        controller.close()
      },
    })
    const events = await readAll(
      body.pipeThrough(
        createParserStream({
          onRetry: (ms) => retries.push(ms),
          onComment: (c) => comments.push(c),
        }),
      ),
    )
    expect(events).toEqual([
      { type: 'message', data: 'é', lastEventId: '1' },
      { type: 'message', data: 'two', lastEventId: '1' },
    ])
    expect(retries).toEqual([250])
    expect(comments).toEqual(['hi'])
  })

  it('works with a Fetch Response body', async () => {
    const response = new Response('event: a\ndata: 1\n\n', {
      headers: { 'content-type': 'text/event-stream' },
    })
    const body = response.body
    if (body === null) throw new Error('no body')
    expect(await readAll(body.pipeThrough(createParserStream()))).toEqual([
      { type: 'a', data: '1', lastEventId: '' },
    ])
  })
})
