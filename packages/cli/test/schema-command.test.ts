/**
 * `herald schema add|list|check|types` against the real `herald serve`: exit codes (0 done or
 * accepted, 1 refused, 2 usage), the named breaking changes, `check` changing nothing, and
 * `types` writing the committed typed example (fixtures/schemas/herald-schemas.ts, which
 * typed-subscribe.ts uses and `npm run typecheck` compiles).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type HubProcess, runHerald, startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const fixtures = fileURLToPath(new URL('./fixtures/schemas/', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'herald-schema-cli-'))
let hub: HubProcess
beforeAll(async () => {
  hub = await startHubProcess()
}, 30_000)
afterAll(async () => {
  await hub?.stop('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

const schema = (...args: string[]) => runHerald(['schema', ...args, '--url', hub.url])

describe('herald schema', () => {
  it('adds, refuses a breaking change by name (exit 1), lists, and checks without changing anything', {
    timeout: 120_000,
  }, async () => {
    const add = await schema('add', 'orders/*', join(fixtures, 'order-v1.json'))
    expect([add.code, add.stdout]).toEqual([0, 'orders/* version 1\n'])
    expect((await schema('add', 'users/*', join(fixtures, 'user.json'))).code).toBe(0)

    const check = await schema('check', 'orders/*', join(fixtures, 'order-breaking.json'))
    expect(check.code).toBe(1)
    for (const kind of [
      'required-field-added',
      'type-narrowed',
      'enum-value-removed',
      'field-removed',
    ]) {
      expect(check.stderr).toContain(kind)
    }
    const refused = await schema('add', 'orders/*', join(fixtures, 'order-breaking.json'))
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('HERALD_SCHEMA_INCOMPATIBLE')
    const same = await schema('check', 'orders/*', join(fixtures, 'order-v1.json'), '--json')
    expect([same.code, JSON.parse(same.stdout)]).toEqual([
      0,
      { accepted: true, message: expect.any(String), version: 1, created: false },
    ])
    const none = await schema(
      'check',
      'orders/*',
      join(fixtures, 'order-breaking.json'),
      '--compatibility',
      'none',
    )
    expect([none.code, none.stdout]).toEqual([0, 'accepted: would be version 2 of orders/*\n'])

    const list = await schema('list', '--json')
    expect(list.code).toBe(0)
    const listed = JSON.parse(list.stdout) as { schemas: { topic: string; versions: unknown[] }[] }
    // `check` stored nothing.
    expect(listed.schemas.map((s) => [s.topic, s.versions.length])).toEqual([
      ['orders/*', 1],
      ['users/*', 1],
    ])
  })

  it('checks data against the schema a topic has (exit 0 or 1)', { timeout: 120_000 }, async () => {
    const good = join(dir, 'good.json')
    const bad = join(dir, 'bad.json')
    await import('node:fs/promises').then(async ({ writeFile }) => {
      await writeFile(good, JSON.stringify({ total: 3, lines: [{ sku: 'a', qty: 1 }] }))
      await writeFile(bad, JSON.stringify({ total: 3, lines: [{ sku: 'a', qty: 1.5 }] }))
    })
    const ok = await schema('check', '--data', 'orders/1', good)
    expect([ok.code, ok.stdout]).toEqual([
      0,
      'accepted: valid against version 1 of the schema for orders/1\n',
    ])
    const no = await schema('check', '--data', 'orders/1', bad)
    expect(no.code).toBe(1)
    expect(no.stderr).toContain('HERALD_SCHEMA_VIOLATION')
    expect(no.stderr).toContain('"/lines/0/qty"')
    expect((await schema('check', '--data', 'free/1', bad)).code).toBe(0)
  })

  it('exits 2 on usage errors', { timeout: 120_000 }, async () => {
    expect((await schema('add', 'orders/*', join(dir, 'missing.json'))).code).toBe(2)
    expect(
      (await schema('add', 'orders/*', join(fixtures, 'user.json'), '--compatibility', 'sideways'))
        .code,
    ).toBe(2)
    expect((await schema('check', 'orders/*')).code).toBe(2)
    expect((await runHerald(['schema', 'nope'])).code).toBe(2)
  })

  it('writes TypeScript types: the committed example is what `herald schema types` writes', {
    timeout: 120_000,
  }, async () => {
    const out = join(dir, 'types.ts')
    const types = await schema('types', '--out', out)
    expect(types.code, types.stderr).toBe(0)
    // The committed copy is formatted by Biome: compare without layout, semicolons and quotes.
    const norm = (text: string) => text.replace(/[\s;,]/g, '').replaceAll("'", '"')
    const committed = readFileSync(join(fixtures, 'herald-schemas.ts'), 'utf8')
    expect(norm(readFileSync(out, 'utf8'))).toBe(norm(committed))
    expect(readFileSync(out, 'utf8')).toContain('export interface HeraldTopicSchemas')
    // ... and the typed example runs: its totals come from the hub, typed as the schema says.
    const publish = (data: unknown) =>
      fetch(`${hub.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'orders/7', data }),
      })
    expect((await publish({ total: 2 })).status).toBe(200)
    expect((await publish({ total: 'x' })).status).toBe(400)
    expect((await publish({ total: 5, status: 'paid' })).status).toBe(200)
    const { totalUntilPaid } = await import('./fixtures/schemas/typed-subscribe.js')
    expect(await totalUntilPaid(hub.url, AbortSignal.timeout(10_000))).toBe(7)
  })
})
