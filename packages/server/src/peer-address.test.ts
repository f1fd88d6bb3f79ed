import { describe, expect, it } from 'vitest'
import { peerAddress } from './peer-address.js'

describe('peerAddress', () => {
  it.each([
    [undefined, ''],
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::1', '::1'],
    ['2001:db8::ffff:1', '2001:db8::ffff:1'],
    ['::ffff:abcd', '::ffff:abcd'],
  ])('%s -> %s', (address, expected) => {
    expect(peerAddress(address)).toBe(expected)
  })
})
