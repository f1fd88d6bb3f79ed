import { describe, expect, it } from 'vitest'
import { HeadSessionInfo, redactQuery, requestTarget } from './info.js'

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
