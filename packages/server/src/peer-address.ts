/**
 * Peer addresses as the limits and logs should see them.
 */

/**
 * A socket's peer address, with IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what a dual-stack
 * listener reports for IPv4 clients) written as plain IPv4, so one client counts once against
 * `maxConnectionsPerIp` whichever way it arrived. `''` when unknown.
 */
export function peerAddress(address: string | undefined): string {
  if (address === undefined) return ''
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}
