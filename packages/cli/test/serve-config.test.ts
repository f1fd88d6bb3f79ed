/**
 * `herald serve`'s settings checks (serve-settings.ts), through resolveServeConfig: each kind of
 * setting takes a flag or environment string and a config file's JSON value, converts it, and
 * refuses anything else with a message naming the setting, its source, what it expects and
 * what it got.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type FlagValues, resolveServeConfig } from '../src/commands/serve-config.js'

const dir = mkdtempSync(join(tmpdir(), 'herald-serve-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const fromFlags = async (flags: FlagValues) =>
  (await resolveServeConfig(flags, {}, undefined)).config
const fromEnv = async (env: Record<string, string>) =>
  (await resolveServeConfig({}, env, undefined)).config
let files = 0
async function fromFile(settings: Record<string, unknown>) {
  const path = join(dir, `config-${files++}.json`)
  writeFileSync(path, JSON.stringify(settings))
  return (await resolveServeConfig({}, {}, path)).config
}
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: Error) => error.message,
  )

describe('serve settings: values taken', () => {
  it('integers and numbers from text (trimmed) and from a file', async () => {
    expect((await fromFlags({ port: ' 9000 ' })).port).toBe(9000)
    expect((await fromEnv({ HERALD_HEARTBEAT: '2.5' })).heartbeat).toBe(2.5)
    const file = await fromFile({ port: 0, heartbeat: 0, maxPayload: 10 })
    expect([file.port, file.heartbeat, file.maxPayload]).toEqual([0, 0, 10])
  })

  it('booleans from the usual words, in any case, and from a file', async () => {
    for (const [text, value] of [
      ['1', true],
      ['TRUE', true],
      ['yes', true],
      ['On', true],
      ['0', false],
      ['false', false],
      ['no', false],
      ['OFF', false],
    ] as const) {
      expect((await fromEnv({ HERALD_TRUST_PROXY: text })).trustProxy).toBe(value)
    }
    expect((await fromFlags({ leanStreams: false })).leanStreams).toBe(false)
    expect((await fromFile({ 'deny-anonymous': true })).denyAnonymous).toBe(true)
  })

  it('lists split, trimmed and without empty items; a file gives an array', async () => {
    expect(
      (await fromEnv({ HERALD_CORS_ORIGIN: ' https://a.example, ,https://b.example' })).corsOrigin,
    ).toEqual(['https://a.example', 'https://b.example'])
    expect((await fromFile({ conflate: [' prices/* ', ''] })).conflate).toEqual(['prices/*'])
  })

  it('retention rules with either bound', async () => {
    expect(
      (await fromFlags({ retentionTopic: 'metrics/**=1000;logs/*=,60' })).retentionTopic,
    ).toEqual([
      { pattern: 'metrics/**', maxEvents: 1000 },
      { pattern: 'logs/*', maxAgeMs: 60_000 },
    ])
  })

  it('text and one-of values as given', async () => {
    const config = await fromFlags({ host: '0.0.0.0', logLevel: 'warn', store: 'memory' })
    expect([config.host, config.logLevel, config.store]).toEqual(['0.0.0.0', 'warn', 'memory'])
  })
})

describe('serve settings: values refused, with the setting, its source and what it got', () => {
  it.each([
    [{ port: '65536' }, '--port: expected an integer >= 0 and <= 65535, got "65536"'],
    [{ port: '1.5' }, '--port: expected an integer >= 0 and <= 65535, got "1.5"'],
    [{ maxPayload: '0' }, '--max-payload: expected an integer >= 1, got "0"'],
    [{ heartbeat: '-1' }, '--heartbeat: expected a number >= 0, got "-1"'],
    [{ heartbeat: '1e3' }, '--heartbeat: expected a number >= 0, got "1e3"'],
    [{ trustProxy: 'maybe' }, '--trust-proxy: expected true or false, got "maybe"'],
    [{ host: '' }, '--host: expected a host name or address, got ""'],
    [
      { logLevel: 'loud' },
      '--log-level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"',
    ],
    [
      { retentionTopic: 'metrics/**' },
      '--retention-topic: expected PATTERN=EVENTS[,SECONDS] (e.g. metrics/**=1000), got "metrics/**"',
    ],
    [{ retentionTopic: 'a=0' }, '--retention-topic: bounds must be positive in "a=0"'],
  ] as [FlagValues, string][])('%j', async (flags, message) => {
    expect(await refusal(fromFlags(flags))).toContain(message)
  })

  it('a file value of the wrong type', async () => {
    const path = join(dir, `config-${files}.json`)
    expect(await refusal(fromFile({ port: '8080x' }))).toContain(
      `config file ${path}: port: expected an integer >= 0 and <= 65535, got "8080x"`,
    )
    expect(await refusal(fromFile({ port: 1e20 }))).toContain('got 100000000000000000000')
    expect(await refusal(fromFile({ heartbeat: null }))).toContain(
      'heartbeat: expected a number >= 0, got null',
    )
    expect(await refusal(fromFile({ trustProxy: 1 }))).toContain(
      'trustProxy: expected true or false, got 1',
    )
    expect(await refusal(fromFile({ corsOrigin: ['a', 2] }))).toContain('got ["a",2]')
    expect(await refusal(fromFile({ store: 5 }))).toContain('store: expected memory, sqlite:PATH')
  })

  it('an environment variable names itself', async () => {
    expect(await refusal(fromEnv({ HERALD_PORT: 'x' }))).toContain(
      'HERALD_PORT: expected an integer >= 0 and <= 65535, got "x"',
    )
  })
})
