import { describe, expect, it } from 'vitest'
import { findBreakingChanges } from './compatibility.js'
import { compareSpecificity } from './registry.js'

const kinds = (a: unknown, b: unknown, mode: 'backward' | 'forward' | 'full' = 'backward') =>
  findBreakingChanges(a, b, mode).map((c) => `${c.kind} ${c.path}`)

describe('findBreakingChanges', () => {
  it('accepts compatible evolutions and annotation changes', () => {
    const v1 = {
      type: 'object',
      properties: { a: { type: 'integer' } },
      additionalProperties: false,
    }
    const v2 = {
      type: 'object',
      title: 'new title',
      properties: { a: { type: 'number', description: 'x' }, b: { type: 'string' } },
      additionalProperties: false,
    }
    expect(kinds(v1, v2)).toEqual([])
    expect(kinds({ enum: [1] }, { enum: [1, 2] })).toEqual([])
    expect(kinds({ required: ['a'] }, {})).toEqual([])
    expect(kinds({ maxLength: 3 }, { maxLength: 5 })).toEqual([])
    expect(kinds({}, true)).toEqual([])
  })

  it('recurses into nested properties, items and partially open models', () => {
    const nested = (t: string) => ({
      type: 'object',
      properties: { lines: { type: 'array', items: { properties: { qty: { type: t } } } } },
    })
    expect(kinds(nested('number'), nested('integer'))).toEqual([
      'type-narrowed /properties/lines/items/properties/qty/type',
    ])
    // Partially open: an unnamed field must satisfy additionalProperties.
    const partial = {
      properties: { a: { type: 'string' } },
      additionalProperties: { type: 'string' },
    }
    expect(
      kinds({ properties: { a: { type: 'string' }, n: { type: 'number' } } }, partial),
    ).toEqual([
      'type-narrowed /properties/n/type',
      // Other unnamed fields: any value before, strings only now.
      'type-narrowed /additionalProperties/type',
    ])
    expect(kinds({}, { type: 'object', additionalProperties: false })).toEqual([
      'type-narrowed /type',
      'additional-properties-closed /additionalProperties',
    ])
  })

  it('names changes from old to new in the forward direction, and reports both under full', () => {
    expect(kinds({ enum: ['a'] }, { enum: ['a', 'b'] }, 'forward')).toEqual([
      'enum-value-added /enum',
    ])
    expect(kinds({ type: 'integer' }, { type: 'number' }, 'full')).toEqual(['type-widened /type'])
    expect(kinds({ type: 'number' }, { type: 'integer' }, 'full')).toEqual(['type-narrowed /type'])
    expect(kinds({ properties: { a: { type: 'string' } } }, {}, 'forward')).toEqual([
      'field-removed /properties/a',
    ])
  })

  it('refuses changes to keywords it does not reason about', () => {
    expect(kinds({ anyOf: [{ type: 'string' }] }, { anyOf: [{ type: 'number' }] })).toEqual([
      'unsupported-change /anyOf',
    ])
    expect(kinds({ anyOf: [{ type: 'string' }] }, { anyOf: [{ type: 'string' }] })).toEqual([])
  })
})

describe('compareSpecificity', () => {
  it('orders concrete, then literal segments, then * over **, then code points', () => {
    const patterns = ['**', 'a/**', '*/*', 'a/*', 'a/b', '*/b', 'b/*']
    expect([...patterns].sort(compareSpecificity)).toEqual([
      'a/b',
      '*/b',
      'a/*',
      'b/*',
      'a/**',
      '*/*',
      '**',
    ])
  })
})
