import { describe, expect, it } from 'vitest'
import { createPublishLog } from './publish-log.js'

type Line = { level: string; obj: Record<string, unknown>; msg: string | undefined }

/** A pino-like logger that records its lines; `debug` enabled or not. */
function recorder(debug: boolean) {
  const lines: Line[] = []
  let notify: (() => void) | undefined
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg })
      notify?.()
    }
  return {
    lines,
    logger: {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      isLevelEnabled: (level: string) => level !== 'debug' || debug,
    },
    /** Resolves once a line with `msg` was logged. */
    async next(msg: string): Promise<Line> {
      for (;;) {
        const line = lines.find((l) => l.msg === msg)
        if (line !== undefined) return line
        await new Promise<void>((resolve) => {
          notify = resolve
        })
      }
    },
  }
}

const event = (topic: string, data: string) => ({ topic, data })

describe('publish log', () => {
  it('logs one info summary per interval: requests, events, bytes, refusals, busiest topics', async () => {
    const r = recorder(false)
    const log = createPublishLog(r.logger, 30)
    log.published([event('a', 'xé')], ['1'], 'json')
    log.published([event('b', 'y'), event('a', 'z')], ['2', '3'], 'json')
    log.refused('HERALD_FORBIDDEN')
    log.refused('HERALD_FORBIDDEN')
    // No line per publish at info.
    expect(r.lines).toEqual([])
    const summary = await r.next('publishes')
    expect(summary.level).toBe('info')
    expect(summary.obj).toMatchObject({
      requests: 2,
      events: 3,
      bytes: 5,
      refused: { HERALD_FORBIDDEN: 2 },
      topics: [
        { topic: 'a', events: 2 },
        { topic: 'b', events: 1 },
      ],
      topicCount: 2,
    })
    expect(summary.obj.intervalMs).toBeGreaterThanOrEqual(25)
    // The next interval starts from zero, and only when publishes come again.
    r.lines.length = 0
    log.published([event('c', '')], ['4'], 'json')
    expect((await r.next('publishes')).obj).toMatchObject({ requests: 1, events: 1, bytes: 0 })
    expect(r.lines).toHaveLength(1)
  })

  it('logs a debug line per publish request when debug is on', () => {
    const r = recorder(true)
    const log = createPublishLog(r.logger, 60_000)
    log.published([event('a', 'xyz')], ['7'], 'json')
    log.published([event('a', 'x'), event('b', 'y')], ['8', '9'], 'form')
    expect(r.lines.map((l) => [l.level, l.msg, l.obj])).toEqual([
      ['debug', 'published', { topic: 'a', bytes: 3, id: '7', flavour: 'json' }],
      [
        'debug',
        'published',
        {
          topics: ['a', 'b'],
          topicCount: 2,
          events: 2,
          bytes: 2,
          firstId: '8',
          lastId: '9',
          flavour: 'form',
        },
      ],
    ])
    // The pending summary comes out on flush (the hub closes).
    log.flush()
    expect(r.lines.at(-1)).toMatchObject({ level: 'info', msg: 'publishes' })
    expect(r.lines.at(-1)?.obj).toMatchObject({ requests: 2, events: 3 })
  })

  it('counts at most 1000 topics per interval', () => {
    const r = recorder(false)
    const log = createPublishLog(r.logger, 60_000)
    for (let i = 0; i < 1500; i++) log.published([event(`t/${i}`, 'x')], [String(i)], 'json')
    log.flush()
    expect(r.lines[0]?.obj).toMatchObject({ requests: 1500, events: 1500, topicCount: 1000 })
    expect(r.lines[0]?.obj.topics).toHaveLength(10)
  })
})
