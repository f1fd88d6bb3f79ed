import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const src = new URL('../src/', import.meta.url).pathname

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : []
  })
}

describe('runtime neutrality', () => {
  it('has no runtime import of a Node built-in (type imports only), so Fetch runtimes load it', () => {
    const offenders: string[] = []
    for (const file of sources(src)) {
      const text = readFileSync(file, 'utf8')
      for (const match of text.matchAll(/^import\s+(?!type\b)[^'"]*?from\s+'(node:[^']+)'/gms)) {
        offenders.push(`${file}: ${match[1]}`)
      }
      if (/\brequire\(|import\(\s*'node:/.test(text)) offenders.push(`${file}: require/import()`)
    }
    expect(offenders).toEqual([])
  })
})
