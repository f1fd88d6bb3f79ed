/**
 * The contract every `EventStore` honours, as one vitest suite. A store package calls
 * {@link runEventStoreContract} from its own test file; the hub relies on nothing else.
 */
import { isHeraldError } from '@herald/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import type { EventStore } from '../event-store.js'
import type { AppendInput, StoredEvent } from '../events.js'
import type { RetentionOptions } from '../retention.js'
import { tailLog } from '../tail.js'

/** What the contract passes to a store factory. */
export interface EventStoreFactoryOptions {
  /** Retention to apply. */
  retention?: RetentionOptions | undefined
  /** Clock to use instead of `Date.now`. */
  now?: (() => number) | undefined
}

/** How the contract creates stores. */
export interface EventStoreContractOptions {
  /** Creates a fresh, empty store. */
  create(options: EventStoreFactoryOptions): EventStore | Promise<EventStore>
  /**
   * Persistent stores only: opens a store on the same data as the store last created
   * (after the contract closed it), as a restarted process would.
   */
  reopen?: ((options: EventStoreFactoryOptions) => EventStore | Promise<EventStore>) | undefined
  /**
   * Stores whose backend several instances share (other processes, other nodes): opens
   * ANOTHER instance on the backend of the store last created, while that one stays open.
   * Enables the multi-instance cases (concurrent appends from every instance, each tail
   * seeing every event once, in id order).
   */
  peer?: ((options: EventStoreFactoryOptions) => EventStore | Promise<EventStore>) | undefined
  /**
   * An event the store's backend refuses (for example through a trigger the test installed),
   * to check that a failed append leaves nothing visible and burns no id. Omit when the
   * backend cannot be made to fail.
   */
  refusedInput?: AppendInput | undefined
}

const ALL = ['**']

function ev(topic: string, data = topic, extra: Partial<AppendInput> = {}): AppendInput {
  return { topic, data, ...extra }
}

/** Reads every matching event after `cursor`, following `page.cursor` while `more`. */
async function readAll(store: EventStore, cursor: string | undefined, topics = ALL, limit = 1000) {
  const out: StoredEvent[] = []
  let at = cursor
  for (let pages = 0; ; pages++) {
    if (pages > 100_000) throw new Error('readAll: the store never answered more: false')
    const page = await store.read(at, { topics, limit })
    if (page.kind === 'reset') throw new Error(`unexpected reset: ${page.reason}`)
    expect(page.events.length).toBeLessThanOrEqual(limit)
    out.push(...page.events)
    const last = page.events.at(-1)
    if (last !== undefined) {
      // The continuation is never before the last event returned.
      expect(page.cursor).toBeDefined()
      expect(store.cursors.compare(page.cursor as string, last.id)).toBeGreaterThanOrEqual(0)
    }
    if (!page.more) return out
    at = page.cursor
  }
}

/** Collects `count` events from a tail, or rejects after 10 s. */
async function collectTail(
  store: EventStore,
  count: number,
  after?: string,
): Promise<StoredEvent[]> {
  const stop = new AbortController()
  const out: StoredEvent[] = []
  const timer = setTimeout(() => stop.abort(), 10_000)
  try {
    for await (const batch of tailLog(store, { signal: stop.signal, after, maxIdleMs: 0 })) {
      out.push(...batch)
      if (out.length >= count) break
    }
  } finally {
    clearTimeout(timer)
    stop.abort()
  }
  if (out.length < count) throw new Error(`the tail saw ${out.length} of ${count} events`)
  return out
}

/**
 * Registers the event-store contract suite (vitest `describe`/`it`) for one store.
 *
 * @param name - Label of the store under test, for example `memory`.
 */
export function runEventStoreContract(name: string, options: EventStoreContractOptions): void {
  describe(`EventStore contract: ${name}`, () => {
    const open: EventStore[] = []
    function expectIncreasing(store: EventStore, ids: readonly string[]): void {
      for (let i = 1; i < ids.length; i++) {
        expect(store.cursors.compare(ids[i - 1] as string, ids[i] as string)).toBeLessThan(0)
      }
    }
    async function create(o: EventStoreFactoryOptions = {}): Promise<EventStore> {
      const store = await options.create(o)
      open.push(store)
      return store
    }
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close().catch(() => {})
    })

    it('starts empty', async () => {
      const store = await create()
      expect(await store.health()).toEqual({ ok: true, oldestId: undefined, latestId: undefined })
      expect(await store.read(undefined, { topics: ALL, limit: 10 })).toEqual({
        kind: 'events',
        events: [],
        cursor: undefined,
        more: false,
      })
    })

    it('assigns increasing unique ids and keeps every field', async () => {
      const store = await create()
      const before = Date.now()
      const [a, b, c] = await store.append([
        ev('a', 'x'),
        ev('b', 'é 😀\nline two\r\n', {
          type: 'update',
          clientId: 'c-1',
          retry: 500,
          schemaVersion: 3,
        }),
        ev('c/d', '', { private: true }),
      ])
      expect(a && b && c).toBeTruthy()
      expectIncreasing(store, [a?.id, b?.id, c?.id] as string[])
      expect(a).toMatchObject({ topic: 'a', data: 'x', type: undefined, private: false })
      // No publisher id: none, or one the store derives (see derivesUpdateIds).
      if (store.derivesUpdateIds === true) expect(a?.clientId).toMatch(/^urn:uuid:/)
      else expect(a?.clientId).toBeUndefined()
      expect(a?.retry).toBeUndefined()
      expect(a?.schemaVersion).toBeUndefined()
      expect(b).toMatchObject({
        type: 'update',
        clientId: 'c-1',
        retry: 500,
        private: false,
        schemaVersion: 3,
      })
      expect(b?.data).toBe('é 😀\nline two\r\n')
      expect(c).toMatchObject({ topic: 'c/d', data: '', private: true })
      expect(a?.publishedAt).toBeGreaterThanOrEqual(before - 1000)
      expect(await readAll(store, undefined)).toEqual([a, b, c])
      expect(await store.health()).toEqual({ ok: true, oldestId: a?.id, latestId: c?.id })
    })

    it('orders concurrent appends by call order, each batch contiguous in order', async () => {
      const store = await create()
      const batches = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          store.append(i % 3 === 0 ? [ev('t', `${i}a`), ev('t', `${i}b`)] : [ev('t', `${i}`)]),
        ),
      )
      const ids = batches.flat().map((e) => e.id)
      expect(new Set(ids).size).toBe(ids.length)
      expectIncreasing(store, ids)
      expect((await readAll(store, undefined)).map((e) => e.id)).toEqual(ids)
    })

    it('reads after a cursor, exclusive, filtered by exact topics and patterns', async () => {
      const store = await create()
      const events = await store.append([
        ev('orders'),
        ev('orders/1'),
        ev('orders/1/lines'),
        ev('users/7'),
        ev('orders/2'),
        ev('https://example.com/books/1'),
      ])
      const topics = async (patterns: string[], cursor?: string) =>
        (await readAll(store, cursor, patterns)).map((e) => e.topic)
      expect(await topics(['orders/*'])).toEqual(['orders/1', 'orders/2'])
      expect(await topics(['orders/**'])).toEqual(['orders/1', 'orders/1/lines', 'orders/2'])
      expect(await topics(['orders', 'users/7'])).toEqual(['orders', 'users/7'])
      expect(await topics(['*/1'])).toEqual(['orders/1'])
      expect(await topics(['https://example.com/books/*'])).toEqual(['https://example.com/books/1'])
      expect(await topics(['**'], events[1]?.id)).toEqual([
        'orders/1/lines',
        'users/7',
        'orders/2',
        'https://example.com/books/1',
      ])
      expect(await topics(['orders/*'], events[1]?.id)).toEqual(['orders/2'])
      expect(await topics(['nothing/here'])).toEqual([])
    })

    it('treats topic characters literally (no SQL or glob surprises)', async () => {
      const store = await create()
      await store.append([ev('a%b'), ev('a_b'), ev('a[1]'), ev('a?'), ev("it's"), ev('axb')])
      const read = async (t: string) => (await readAll(store, undefined, [t])).map((e) => e.topic)
      expect(await read('a%b')).toEqual(['a%b'])
      expect(await read('a_b')).toEqual(['a_b'])
      expect(await read('a[1]')).toEqual(['a[1]'])
      expect(await read('a?')).toEqual(['a?'])
      expect(await read("it's")).toEqual(["it's"])
    })

    it('pages with limit and more', async () => {
      const store = await create()
      const all = await store.append(Array.from({ length: 25 }, (_, i) => ev(`t/${i % 2}`)))
      const first = await store.read(undefined, { topics: ALL, limit: 10 })
      expect(first.kind === 'events' && first.events.length).toBe(10)
      expect(first.kind === 'events' && first.more).toBe(true)
      expect(await readAll(store, undefined, ALL, 7)).toEqual(all)
      expect(await readAll(store, undefined, ['t/1'], 3)).toEqual(
        all.filter((e) => e.topic === 't/1'),
      )
    })

    it('replays everything from cursor 0 while nothing was deleted', async () => {
      const store = await create()
      const all = await store.append([ev('a'), ev('b')])
      expect(await readAll(store, '0')).toEqual(all)
    })

    it('answers a reset for unknown cursors', async () => {
      const store = await create()
      const [a, b] = await store.append([ev('a'), ev('b')])
      for (const cursor of ['garbage', '', '-1', '1e3', '99999999999999999999', 'abc\u0000']) {
        const page = await store.read(cursor, { topics: ALL, limit: 10 })
        expect(page, cursor).toEqual({
          kind: 'reset',
          reason: 'unknown',
          oldestId: a?.id,
          latestId: b?.id,
        })
      }
      // A cursor ahead of the log (another store's, or from before a wipe) is unknown too.
      const ahead = await store.read('9999999999', { topics: ALL, limit: 10 })
      expect(ahead.kind === 'reset' && ahead.reason).toBe('unknown')
    })

    it('keeps at most maxEvents, and resets cursors older than what it deleted', async () => {
      const store = await create({ retention: { maxEvents: 5 } })
      const all: StoredEvent[] = []
      for (let i = 0; i < 10; i++) all.push(...(await store.append([ev('t', String(i))])))
      expect((await readAll(store, undefined)).map((e) => e.data)).toEqual([
        '5',
        '6',
        '7',
        '8',
        '9',
      ])
      const old = await store.read(all[1]?.id, { topics: ALL, limit: 10 })
      expect(old).toEqual({
        kind: 'reset',
        reason: 'expired',
        oldestId: all[5]?.id,
        latestId: all[9]?.id,
      })
      // The last deleted event's id is still a valid cursor: nothing after it was lost.
      expect((await readAll(store, all[4]?.id)).map((e) => e.data)).toEqual([
        '5',
        '6',
        '7',
        '8',
        '9',
      ])
    })

    it('deletes events older than maxAgeMs', async () => {
      let t = 1_000_000
      const store = await create({ retention: { maxAgeMs: 2000 }, now: () => t })
      const [a] = await store.append([ev('t', 'old')])
      t += 1500
      const [b] = await store.append([ev('t', 'mid')])
      t += 1000
      const [c] = await store.append([ev('t', 'new')])
      expect((await readAll(store, undefined)).map((e) => e.data)).toEqual(['mid', 'new'])
      expect((await store.read(undefined, { topics: ALL, limit: 1 })).kind).toBe('events')
      const page = await store.read('0', { topics: ALL, limit: 10 })
      expect(page).toMatchObject({ kind: 'reset', reason: 'expired', oldestId: b?.id })
      expect((await readAll(store, a?.id)).map((e) => e.id)).toEqual([b?.id, c?.id])
      t += 10_000
      expect(await readAll(store, undefined)).toEqual([])
      expect(await store.health()).toEqual({ ok: true, oldestId: undefined, latestId: c?.id })
    })

    it('applies per-topic retention and resets only subscriptions that lost events', async () => {
      const store = await create({
        retention: { topics: [{ pattern: 'noisy/**', maxEvents: 2 }] },
      })
      const [q1] = await store.append([ev('quiet/a')])
      await store.append([ev('noisy/1'), ev('noisy/2')])
      await store.append([ev('noisy/3')])
      await store.append([ev('noisy/4'), ev('quiet/b')])
      expect((await readAll(store, undefined)).map((e) => e.topic)).toEqual([
        'quiet/a',
        'noisy/3',
        'noisy/4',
        'quiet/b',
      ])
      expect((await readAll(store, q1?.id, ['quiet/*'])).map((e) => e.topic)).toEqual(['quiet/b'])
      const noisy = await store.read(q1?.id, { topics: ['noisy/**'], limit: 10 })
      expect(noisy.kind === 'reset' && noisy.reason).toBe('expired')
    })

    it('never ends a filtered replay early: a rare topic among many, limit 1', async () => {
      const store = await create()
      const rare: StoredEvent[] = []
      for (let round = 0; round < 5; round++) {
        await store.append(Array.from({ length: 300 }, (_, i) => ev(`busy/${i % 7}`)))
        rare.push(...(await store.append([ev('rare/x', `r${round}`)])))
      }
      await store.append(Array.from({ length: 300 }, () => ev('busy/0')))
      expect(await readAll(store, undefined, ['rare/*'], 1)).toEqual(rare)
      expect(await readAll(store, '0', ['rare/x', 'nothing/*'], 1)).toEqual(rare)
      expect(await readAll(store, rare[1]?.id, ['rare/x'], 1)).toEqual(rare.slice(2))
      expect(await readAll(store, undefined, ['nomatch/*'], 1)).toEqual([])
    })

    it('compares cursors in log order (its own cursors.compare)', async () => {
      const store = await create()
      const events = await store.append(Array.from({ length: 12 }, (_, i) => ev(`t/${i}`)))
      const ids = events.map((e) => e.id)
      for (let i = 0; i < ids.length; i++) {
        for (let j = 0; j < ids.length; j++) {
          expect(Math.sign(store.cursors.compare(ids[i] as string, ids[j] as string))).toBe(
            Math.sign(i - j),
          )
        }
      }
    })

    it('wakes a watcher registered before an append, and ends it on abort', async () => {
      const store = await create()
      const stop = new AbortController()
      const iterator = store.watch(stop.signal)[Symbol.asyncIterator]()
      // Appended between watch() and the first next(): the wakeup must not be lost.
      await store.append([ev('a')])
      const woke = await Promise.race([
        iterator.next().then((r) => !r.done),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000)),
      ])
      expect(woke).toBe(true)
      const next = iterator.next()
      stop.abort()
      expect((await next).done).toBe(true)
    })

    it('tails every event exactly once, in id order, across concurrent appends', async () => {
      const store = await create()
      const [first] = await store.append([ev('before')])
      const tail = collectTail(store, 400, first?.id)
      const appended = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          store.append(
            i % 2 === 0 ? [ev(`t/${i}`), ev(`u/${i}`), ev(`t/${i}`)] : [ev(`t/${i}`, 'x')],
          ),
        ),
      )
      await store.append(Array.from({ length: 200 }, (_, i) => ev(`late/${i}`)))
      const seen = await tail
      const ids = seen.map((e) => e.id)
      expect(new Set(ids).size).toBe(ids.length)
      expectIncreasing(store, ids)
      expect(ids.slice(0, 200)).toEqual(appended.flat().map((e) => e.id))
    })

    it('reports health with the bounds of the log', async () => {
      const store = await create()
      const [a, b] = await store.append([ev('a'), ev('b')])
      expect(await store.health()).toEqual({ ok: true, oldestId: a?.id, latestId: b?.id })
    })

    it('keeps ONE event for several topics: found through any of them, once, alternates kept', async () => {
      const store = await create()
      const [before, multi, after] = await store.append([
        ev('x/other'),
        ev('books/1', 'multi', { alternates: ['authors/7', 'shelves/a/b'] }),
        ev('authors/7', 'plain'),
      ])
      expect(multi?.alternates).toEqual(['authors/7', 'shelves/a/b'])
      expect(before?.alternates).toEqual([])
      const data = async (topics: string[], limit = 10) =>
        (await readAll(store, undefined, topics, limit)).map((e) => e.data)
      expect(await data(['books/1'])).toEqual(['multi'])
      expect(await data(['authors/7'])).toEqual(['multi', 'plain'])
      expect(await data(['shelves/**'])).toEqual(['multi'])
      // Matched through its canonical topic AND an alternate: still once.
      expect(await data(['books/*', 'authors/*', 'shelves/a/b'], 1)).toEqual(['multi', 'plain'])
      expect(await data(['**'])).toEqual(['x/other', 'multi', 'plain'])
      expect((await readAll(store, undefined, ['authors/7']))[0]).toEqual(multi)
      expect((await readAll(store, multi?.id, ['authors/7'])).map((e) => e.id)).toEqual([after?.id])
    })

    it('resolves update ids to cursors and refuses a repeat atomically (when it has findCursor)', async () => {
      const store = await create()
      if (store.findCursor === undefined) return
      const [a, b] = await store.append([ev('a', '1', { clientId: 'urn:uuid:a' }), ev('b', '2')])
      expect(await store.findCursor('urn:uuid:a')).toBe(a?.id)
      expect(await store.findCursor('urn:uuid:nope')).toBeUndefined()
      // A repeat of a retained id, or within one batch, refuses the whole append.
      for (const batch of [
        [ev('c', '3', { clientId: 'urn:uuid:c' }), ev('d', '4', { clientId: 'urn:uuid:a' })],
        [ev('e', '5', { clientId: 'urn:uuid:e' }), ev('f', '6', { clientId: 'urn:uuid:e' })],
      ]) {
        await expect(store.append(batch)).rejects.toMatchObject({
          code: 'HERALD_DUPLICATE_EVENT_ID',
          status: 409,
        })
      }
      expect(await store.findCursor('urn:uuid:c')).toBeUndefined()
      expect((await readAll(store, undefined)).map((e) => e.data)).toEqual(['1', '2'])
      const [g] = await store.append([ev('g', '7', { clientId: 'urn:uuid:c' })])
      expect(await store.findCursor('urn:uuid:c')).toBe(g?.id)
      expect(store.cursors.compare(b?.id as string, g?.id as string)).toBeLessThan(0)
    })

    it('forgets a publisher id with its event (count, per-topic rule), then takes it again (when it has findCursor)', async () => {
      const store = await create({
        retention: { maxEvents: 3, topics: [{ pattern: 'rare/*', maxEvents: 1 }] },
      })
      if (store.findCursor === undefined) return
      const [a] = await store.append([ev('x', 'a', { clientId: 'id-a' })])
      expect(await store.findCursor('id-a')).toBe(a?.id)
      await store.append([
        ev('x', 'b', { clientId: 'id-b' }),
        ev('x', 'c', { clientId: 'id-c' }),
        ev('x', 'd', { clientId: 'id-d' }),
      ])
      // Count: a is gone, and its id with it (and may be used again).
      expect(await store.findCursor('id-a')).toBeUndefined()
      const [again] = await store.append([ev('x', 'a2', { clientId: 'id-a' })])
      expect(await store.findCursor('id-a')).toBe(again?.id)
      // Per-topic rule: the older rare event goes, with its id.
      await store.append([ev('rare/1', 'r1', { clientId: 'id-r1' })])
      await store.append([ev('rare/2', 'r2', { clientId: 'id-r2' })])
      expect(await store.findCursor('id-r1')).toBeUndefined()
      expect(await store.findCursor('id-r2')).toBeDefined()
    })

    it('derives an update id for an event appended without one (when it derivesUpdateIds)', async () => {
      const store = await create()
      if (store.derivesUpdateIds !== true) return
      const [a, b] = await store.append([ev('a'), ev('b', '2', { clientId: 'urn:uuid:given' })])
      const [c] = await store.append([ev('c')])
      // RFC 9562 UUID version 8 (variant 10xx) in the urn:uuid namespace.
      const v8 = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
      expect(a?.clientId).toMatch(v8)
      expect(c?.clientId).toMatch(v8)
      expect(c?.clientId).not.toBe(a?.clientId)
      expect(b?.clientId).toBe('urn:uuid:given')
      // The same id on every read, resolved to its cursor, and never given to another event.
      expect(await readAll(store, undefined)).toEqual([a, b, c])
      expect(await store.findCursor?.(a?.clientId as string)).toBe(a?.id)
      expect(await store.findCursor?.(c?.clientId as string)).toBe(c?.id)
      await expect(store.append([ev('d', '4', { clientId: c?.clientId })])).rejects.toMatchObject({
        code: 'HERALD_DUPLICATE_EVENT_ID',
        status: 409,
      })
      if (options.peer !== undefined) {
        const peer = await options.peer({})
        try {
          expect(await readAll(peer, undefined)).toEqual([a, b, c])
        } finally {
          await peer.close()
        }
      }
    })

    if (options.refusedInput !== undefined) {
      const refused = options.refusedInput
      it('rolls a failed append back: nothing visible, no id burnt, other appends unharmed', async () => {
        const store = await create()
        const [first] = await store.append([ev('r', 'first')])
        // Appended in the same turn as the failing batch: it must not be taken down with it.
        const [bad, good] = await Promise.allSettled([
          store.append([ev('r', 'half-1'), refused, ev('r', 'half-2')]),
          store.append([ev('r', 'innocent')]),
        ])
        expect(bad.status).toBe('rejected')
        expect(good.status).toBe('fulfilled')
        const [last] = await store.append([ev('r', 'last')])
        expect((await readAll(store, undefined)).map((e) => e.data)).toEqual([
          'first',
          'innocent',
          'last',
        ])
        const ids = (await readAll(store, first?.id)).map((e) => e.id)
        expect(ids.at(-1)).toBe(last?.id)
        expect((await store.health()).ok && (await store.health())).toMatchObject({
          latestId: last?.id,
        })
      })
    }

    if (options.peer !== undefined) {
      const peer = options.peer
      it('shares one log across instances: ids unique and ordered, reads see peers at once', async () => {
        const a = await create()
        const b = await peer({})
        open.push(b)
        const [x] = await a.append([ev('p', 'from-a')])
        const [y] = await b.append([ev('p', 'from-b')])
        expect(a.cursors.compare(x?.id as string, y?.id as string)).toBeLessThan(0)
        expect((await readAll(b, undefined)).map((e) => e.data)).toEqual(['from-a', 'from-b'])
        expect((await readAll(a, x?.id)).map((e) => e.data)).toEqual(['from-b'])
        expect(await a.health()).toEqual({ ok: true, oldestId: x?.id, latestId: y?.id })
      })

      it('tails every event of every instance exactly once, in id order, under concurrent appends', async () => {
        const instances = [await create(), await peer({}), await peer({})]
        open.push(...instances.slice(1))
        const [start] = await (instances[0] as EventStore).append([ev('s')])
        const perInstance = 150
        const total = perInstance * instances.length
        const tails = instances.map((store) => collectTail(store, total, start?.id))
        const appended = await Promise.all(
          instances.flatMap((store, n) =>
            Array.from({ length: perInstance / 3 }, (_, i) =>
              store.append([
                ev(`i${n}/a`, `${n}-${i}-0`),
                ev(`i${n}/b`, `${n}-${i}-1`),
                ev('shared', `${n}-${i}-2`),
              ]),
            ),
          ),
        )
        const all = appended.flat()
        expect(new Set(all.map((e) => e.id)).size).toBe(total)
        // Each batch is contiguous in the log.
        const log = await readAll(instances[1] as EventStore, start?.id)
        const position = new Map(log.map((e, i) => [e.id, i]))
        for (const batch of appended) {
          const at = position.get(batch[0]?.id as string) as number
          expect(log.slice(at, at + batch.length).map((e) => e.id)).toEqual(batch.map((e) => e.id))
        }
        const expected = await readAll(instances[2] as EventStore, start?.id)
        expect(expected).toHaveLength(total)
        for (const [n, tail] of tails.entries()) {
          const seen = await tail
          const ids = seen.map((e) => e.id)
          expect(new Set(ids).size, `tail ${n}`).toBe(total)
          expectIncreasing(instances[n] as EventStore, ids)
          expect(ids, `tail ${n}`).toEqual(expected.map((e) => e.id))
        }
      })
    }

    it('refuses to work after close', async () => {
      const store = await create()
      await store.append([ev('a')])
      await store.close()
      for (const attempt of [
        () => store.append([ev('b')]),
        () => store.read(undefined, { topics: ALL, limit: 1 }),
        () => store.health(),
      ]) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(isHeraldError(error, 'HERALD_STORE_CLOSED')).toBe(true)
      }
    })

    if (options.reopen !== undefined) {
      const reopen = options.reopen
      it('survives a restart: keeps the log and never reuses an id', async () => {
        const store = await create()
        const before = await store.append([ev('a', '1'), ev('b', '2'), ev('a', '3')])
        await store.close()
        const again = await reopen({})
        open.push(again)
        const [next] = await again.append([ev('a', '4')])
        expect(again.cursors.compare(before[2]?.id as string, next?.id as string)).toBeLessThan(0)
        expect((await readAll(again, before[0]?.id, ['a'])).map((e) => e.data)).toEqual(['3', '4'])
      })

      it('never reuses an id even when retention deleted every event', async () => {
        const store = await create({ retention: { maxEvents: 1 } })
        const before = await store.append([ev('a'), ev('a'), ev('a')])
        await store.close()
        const again = await reopen({ retention: { maxEvents: 1 } })
        open.push(again)
        const [next] = await again.append([ev('a')])
        expect(again.cursors.compare(before[2]?.id as string, next?.id as string)).toBeLessThan(0)
        const old = await again.read(before[0]?.id, { topics: ALL, limit: 10 })
        expect(old.kind === 'reset' && old.reason).toBe('expired')
      })
    }
  })
}
