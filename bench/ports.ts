/**
 * Loopback ports for the benchmarks' server child processes.
 */
import net from 'node:net'

/** A port free on 127.0.0.1 right now (the OS picks it; a child process binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

/** Waits until something accepts TCP connections on 127.0.0.1:`port`, polling every 50 ms (45 s: a node starts slowly on a loaded 2-core machine). */
export async function waitForPort(port: number, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.on('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`server on port ${port} did not start`)
}
