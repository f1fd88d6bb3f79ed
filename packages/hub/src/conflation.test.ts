import type { StoredEvent } from '@herald/store'
import { describe, expect, it } from 'vitest'
import { storedEvent } from '../test/fixtures.js'
import { createConflation } from './conflation.js'

let seq = 0
const event = (topic: string, extra: Partial<StoredEvent> = {}) =>
  storedEvent(++seq, { topic, ...extra })

describe('createConflation', () => {
  it('is off without patterns', () => {
    expect(createConflation([])).toBeUndefined()
  })

  it('picks only events a later event of the same topic, type and privacy supersedes', () => {
    const conflation = createConflation(['ticker/*'])
    const a1 = event('ticker/a')
    const b1 = event('ticker/b')
    const a2 = event('ticker/a')
    const a2status = event('ticker/a', { type: 'status' })
    const a3private = event('ticker/a', { private: true })
    const other1 = event('news')
    const other2 = event('news')
    const a4 = event('ticker/a')
    const batch = [a1, b1, a2, a2status, a3private, other1, other2, a4]
    const dropped = conflation?.superseded(batch)
    expect(dropped === undefined ? [] : batch.filter((e) => dropped.has(e))).toEqual([a1, a2])
  })

  it('never drops the newest event of a key, nor a single event, nor events with alternates', () => {
    const conflation = createConflation(['**'])
    const only = event('x')
    expect(conflation?.superseded([only])).toBeUndefined()
    const alt1 = event('x', { alternates: ['y'] })
    const alt2 = event('x', { alternates: ['y'] })
    expect(conflation?.superseded([alt1, alt2])).toBeUndefined()
    const x1 = event('x')
    const x2 = event('x')
    const dropped = conflation?.superseded([x1, x2])
    expect(dropped?.has(x1)).toBe(true)
    expect(dropped?.has(x2)).toBe(false)
  })

  it('refuses an invalid pattern', () => {
    expect(() => createConflation(['ticker/a*'])).toThrow(/topic pattern/)
  })
})
