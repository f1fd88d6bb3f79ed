/**
 * LLM-style token streaming from a Next.js route handler: `GET /api/chat?prompt=...` streams
 * the answer one token per event (`event: token`, `id:` = token index), then `event: done`.
 * A dropped connection resumes where it stopped: the browser (or @herald/client) sends
 * Last-Event-ID and the handler continues after that token. `session.ready()` waits while a
 * slow reader's queue is full, so a slow client slows the model down instead of being cut off.
 */
import { createFetchHandler, createStreamServer } from '@herald/server'

export const dynamic = 'force-dynamic'
export const runtime = 'nodejs'

const streams = createStreamServer({ heartbeatMs: 15_000 })

/** A stand-in for a model: deterministic tokens for a prompt. */
export function fakeModel(prompt: string): string[] {
  const answer = `You asked: "${prompt}". Server-Sent Events stream this answer token by token over plain HTTP, and a dropped connection resumes from the last token it received.`
  return answer.match(/\S+\s*/g) ?? []
}

const TOKEN_MS = Number(process.env.TOKEN_MS ?? 40)

const handler = createFetchHandler(streams, async (session, { request }) => {
  const prompt = new URL(request.url).searchParams.get('prompt')?.slice(0, 500) || 'What is SSE?'
  const tokens = fakeModel(prompt)
  const resumeAfter = Number.parseInt(session.lastEventId ?? '', 10)
  for (let i = Number.isSafeInteger(resumeAfter) ? resumeAfter + 1 : 0; i < tokens.length; i++) {
    if (!(await session.ready())) return // the client left
    session.send({ id: String(i), event: 'token', data: tokens[i] ?? '' })
    await new Promise((resolve) => setTimeout(resolve, TOKEN_MS))
  }
  session.send({ event: 'done', data: String(tokens.length) })
  session.close()
})

/** Next.js calls this with the Fetch `Request`; the streaming `Response` goes back as is. */
export function GET(request: Request): Response {
  return handler(request)
}
