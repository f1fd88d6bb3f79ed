/**
 * The contract every `Broker` honours (memory now; Redis and NATS later), as one vitest
 * suite: what a hub node relies on for its single subscription.
 */
import type { Broker, StoredEvent } from '@herald/hub'
import { formatSequenceCursor } from '@herald/hub'
import { afterEach, describe, expect, it } from 'vitest'

/** How the contract creates brokers. */
export interface BrokerContractOptions {
  /** Creates a broker; several calls may share a backend (nodes of one cluster). */
  create(): Broker | Promise<Broker>
}

let seq = 0
function events(n: number, topic = 't'): StoredEvent[] {
  return Array.from({ length: n }, () => ({
    id: formatSequenceCursor(++seq),
    topic,
    alternates: [],
    data: `d${seq}`,
    type: undefined,
    clientId: undefined,
    retry: undefined,
    private: false,
    publishedAt: Date.now(),
  }))
}

/** Collects batches from a subscription until `count` events arrived; rejects after 10 s. */
async function collect(
  iterable: AsyncIterable<readonly StoredEvent[]>,
  count: number,
): Promise<StoredEvent[]> {
  const out: StoredEvent[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`broker delivered ${out.length} of ${count} events`)),
      10_000,
    )
  })
  const read = (async () => {
    for await (const batch of iterable) {
      out.push(...batch)
      if (out.length >= count) break
    }
    return out
  })()
  try {
    return await Promise.race([read, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** Registers the broker contract suite for one broker. */
export function runBrokerContract(name: string, options: BrokerContractOptions): void {
  describe(`Broker contract: ${name}`, () => {
    const open: Broker[] = []
    async function create(): Promise<Broker> {
      const broker = await options.create()
      open.push(broker)
      return broker
    }
    afterEach(async () => {
      for (const broker of open.splice(0)) await broker.close()
    })

    it('delivers every published event to every subscription, in order', async () => {
      const broker = await create()
      const stop = new AbortController()
      const first = collect(broker.subscribe(stop.signal), 5)
      const second = collect(broker.subscribe(stop.signal), 5)
      const sent = [...events(2), ...events(3)]
      await broker.publish(sent.slice(0, 2))
      await broker.publish(sent.slice(2))
      expect((await first).map((e) => e.id)).toEqual(sent.map((e) => e.id))
      expect((await second).map((e) => e.id)).toEqual(sent.map((e) => e.id))
      stop.abort()
    })

    it('ends a subscription when its signal aborts', async () => {
      const broker = await create()
      const stop = new AbortController()
      const iterator = broker.subscribe(stop.signal)[Symbol.asyncIterator]()
      const next = iterator.next()
      stop.abort()
      expect((await next).done).toBe(true)
    })

    it('ends every subscription on close', async () => {
      const broker = await create()
      const iterator = broker.subscribe(new AbortController().signal)[Symbol.asyncIterator]()
      const next = iterator.next()
      await broker.close()
      expect((await next).done).toBe(true)
    })

    it('keeps a subscription that started aborted empty', async () => {
      const broker = await create()
      const stop = new AbortController()
      stop.abort()
      const iterator = broker.subscribe(stop.signal)[Symbol.asyncIterator]()
      await broker.publish(events(1))
      expect((await iterator.next()).done).toBe(true)
    })
  })
}
