import { describe, expect, it } from 'vitest'
import { HeadSessionInfo, packIpv4, redactQuery, requestTarget, unpackIpv4 } from './info.js'

describe('redactQuery', () => {
  it('hides credential parameters, whatever the spelling of their name', () => {
    expect(redactQuery('?topic=a&authorization=eyJ.x.y')).toBe('?topic=a&authorization=[redacted]')
    expect(redactQuery('?access_token=t&topic=a')).toBe('?access_token=[redacted]&topic=a')
    expect(redactQuery('?Authorization=t')).toBe('?Authorization=[redacted]')
    expect(redactQuery('?%61uthorization=t&b=1')).toBe('?%61uthorization=[redacted]&b=1')
    expect(redactQuery('?authorization=a&authorization=b')).toBe(
      '?authorization=[redacted]&authorization=[redacted]',
    )
  })

  it('leaves other queries as they are, malformed escapes included', () => {
    expect(redactQuery('?topic=a%2Fb&lastEventId=9')).toBe('?topic=a%2Fb&lastEventId=9')
    expect(redactQuery('?x=%E0%A4%A')).toBe('?x=%E0%A4%A')
    expect(redactQuery('?authorization')).toBe('?authorization')
    expect(redactQuery('')).toBe('')
  })

  it('is what the log lines get from requestTarget', () => {
    const info = new HeadSessionInfo(
      '127.0.0.1',
      'GET /events?topic=a&authorization=secret HTTP/1.1\r\nhost: x',
      false,
    )
    expect(requestTarget(info)).toEqual({
      path: '/events',
      query: '?topic=a&authorization=[redacted]',
    })
  })
})
const HEAD = 'GET /events?topic=a HTTP/1.1\r\nhost: example.com:8080\r\naccept: text/event-stream'

describe('HeadSessionInfo', () => {
  // IPv4 addresses are kept packed in an int32: whatever the text, `ip` gives it back as is.
  it.each([
    '127.0.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '128.0.0.1',
    '10.200.3.45',
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '1.2.3.4.',
    '1..2.3',
    '::1',
    '2001:db8::ffff:1',
    '',
  ])('ip %j comes back unchanged', (ip) => {
    expect(new HeadSessionInfo(ip, HEAD, false).ip).toBe(ip)
  })

  it('packs dotted quads only, and unpacks them to the same text', () => {
    expect(packIpv4('192.168.1.20')).toBe((192 << 24) | (168 << 16) | (1 << 8) | 20)
    expect(unpackIpv4(packIpv4('192.168.1.20') as number)).toBe('192.168.1.20')
    for (const text of ['01.2.3.4', '1.2.3', '256.0.0.1', '1.2.3.4.5', 'a.b.c.d', '::1']) {
      expect(packIpv4(text)).toBeUndefined()
    }
  })

  it('reads headers, target and URL from the head, with the scheme of the connection', () => {
    const plain = new HeadSessionInfo('10.0.0.1', HEAD, false)
    expect(plain.headers.accept).toBe('text/event-stream')
    expect(plain.target).toBe('/events?topic=a')
    expect(plain.url.href).toBe('http://example.com:8080/events?topic=a')
    expect(plain.headers).toBe(plain.headers)
    const secure = new HeadSessionInfo('10.0.0.1', HEAD, true)
    // URL first, then headers: both made from the same parts.
    expect(secure.url.href).toBe('https://example.com:8080/events?topic=a')
    expect(secure.headers.host).toBe('example.com:8080')
  })
})
