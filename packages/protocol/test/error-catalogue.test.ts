/**
 * Keeps docs/errors.md and the code catalogue in step: every code documented, nothing
 * documented that does not exist.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { heraldErrorCodes } from '../src/index.js'

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')
const documented = [...doc.matchAll(/^### (HERALD_[A-Z0-9_]+)\s*$/gm)].map((m) => m[1])

describe('error catalogue', () => {
  it('documents every code in docs/errors.md', () => {
    const missing = heraldErrorCodes.filter((code) => !documented.includes(code))
    expect(missing).toEqual([])
  })

  it('documents no code that does not exist, and none twice', () => {
    expect(
      documented.filter((code) => !(heraldErrorCodes as readonly string[]).includes(code ?? '')),
    ).toEqual([])
    expect(new Set(documented).size).toBe(documented.length)
  })

  it('never repeats a code in the catalogue', () => {
    expect(new Set(heraldErrorCodes).size).toBe(heraldErrorCodes.length)
  })
})
