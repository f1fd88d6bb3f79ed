/**
 * `herald serve`'s plain HTTP listener with the lean path: it holds nothing per connection (a
 * lean stream's socket is the hub's), and destroy() still closes every connection it accepted.
 */
import { connect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { createListener } from '../src/commands/serve-listener.js'

describe('serve listener (lean path)', () => {
  it('adds no listener to an accepted socket, and destroy() closes the sockets still open', async () => {
    const accepted: Socket[] = []
    // A stand-in for the hub's lean path that keeps every connection, as an idle stream does.
    const listener = createListener(
      () => {},
      undefined,
      () => (socket) => {
        accepted.push(socket)
      },
    )
    const { port } = await listener.listen(0, '127.0.0.1')
    const clients = await Promise.all(
      [1, 2].map(
        () =>
          new Promise<Socket>((resolve) => {
            const client = connect(port, '127.0.0.1', () => resolve(client))
          }),
      ),
    )
    while (accepted.length < 2) await new Promise((resolve) => setImmediate(resolve))
    for (const socket of accepted) expect(socket.listenerCount('close')).toBe(0)
    const closed = clients.map((c) => new Promise((resolve) => c.once('close', resolve)))
    listener.stopAccepting()
    listener.destroy()
    expect(accepted.map((s) => s.destroyed)).toEqual([true, true])
    await Promise.all(closed)
  })
})
