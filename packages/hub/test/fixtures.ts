/**
 * Fixtures shared by the hub's tests (kept out of src, so nothing here ships in dist).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Hub, HubOptions } from '@herald/hub'
import { createHub } from '@herald/hub'
import type { StoredEvent } from '@herald/store'
import { formatSequenceCursor, NO_ALTERNATES } from '@herald/store'

/** A stored event with sequence `seq` (id and data from it, topic `t`), `fields` over it. */
export function storedEvent(seq: number, fields: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: formatSequenceCursor(seq),
    topic: 't',
    alternates: NO_ALTERNATES,
    data: String(seq),
    type: undefined,
    clientId: undefined,
    retry: undefined,
    private: false,
    publishedAt: 0,
    schemaVersion: undefined,
    ...fields,
  }
}

/**
 * `createHub(options)` on a real node:http server at 127.0.0.1; `cleanups` gets what closes
 * them (the hub, its store, the server and its connections).
 */
export async function listenHub(
  options: HubOptions,
  cleanups: (() => Promise<unknown>)[],
): Promise<{ hub: Hub; server: Server; url: string }> {
  const hub = createHub(options)
  const server = createServer((req, res) => hub.handleNode(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(async () => {
    await hub.close()
    await options.store.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { hub, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}
