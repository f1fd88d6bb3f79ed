/**
 * Sessions without sockets, for tests that count frames or flush turns rather than bytes.
 */

/** The part of a `StreamServer` {@link openFetchSessions} uses. */
export interface FetchSessionServer<S> {
  handleFetch(request: Request, init: { ip: string }): { session: S | undefined }
}

/**
 * Opens `count` event-stream sessions on `server` through its Fetch transport, each from its
 * own address (10.0.0.1, 10.0.0.2, ...). Throws if one is refused.
 */
export function openFetchSessions<S>(server: FetchSessionServer<S>, count: number): S[] {
  return Array.from({ length: count }, (_, i) => {
    const { session } = server.handleFetch(
      new Request('http://example.test/events', { headers: { accept: 'text/event-stream' } }),
      { ip: `10.0.0.${i + 1}` },
    )
    if (session === undefined) throw new Error('refused')
    return session
  })
}
