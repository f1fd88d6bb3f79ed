/**
 * The documentation stays true to the code: every `herald_*` metric the real hub exposes is
 * in docs/observability.md, every relative link in README.md and docs/ points at a file that
 * exists, and docs/cli.md holds the current `--help` of every command.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HERALD_BIN, type HubProcess, startHubProcess } from '@herald/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const read = (path: string) => readFileSync(join(root, path), 'utf8')
let hub: HubProcess

beforeAll(async () => {
  hub = await startHubProcess()
})
afterAll(async () => {
  await hub?.stop()
})

describe('docs', () => {
  it('observability.md names every herald_* metric the hub exposes', async () => {
    const text = await (await fetch(`${hub.url}/metrics`)).text()
    const names = [...text.matchAll(/^# HELP (herald_\w+)/gm)].map((m) => m[1] as string)
    expect(names.length).toBeGreaterThan(15)
    const doc = read('docs/observability.md')
    const missing = names.filter(
      (name) => !doc.includes(`\`${name}\``) && !/^herald_(process|nodejs)_/.test(name), // documented as a group
    )
    expect(missing).toEqual([])
  })

  it('every relative link in README.md and docs/*.md resolves', () => {
    const files = [
      'README.md',
      ...readdirSync(join(root, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ]
    const broken: string[] = []
    for (const file of files) {
      for (const match of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = (match[1] as string).split('#')[0] as string
        if (target === '' || /^[a-z]+:/.test(target)) continue
        if (!existsSync(join(root, dirname(file), target))) broken.push(`${file} -> ${match[1]}`)
      }
    }
    expect(broken).toEqual([])
  })

  // One process per command (and subcommand): slow on a loaded machine.
  it('cli.md holds the current --help of every command', { timeout: 120_000 }, () => {
    const help = (args: string[]) => {
      const result = spawnSync(process.execPath, [HERALD_BIN, ...args], { encoding: 'utf8' })
      expect(result.status, args.join(' ')).toBe(0)
      return result.stdout.trim()
    }
    const doc = read('docs/cli.md')
    const top = help(['--help'])
    expect(doc).toContain(top)
    // `  name [options] <ARGS>   summary`; `help [COMMAND]` is not a command of its own.
    const commands = [...top.matchAll(/^ {2}([a-z]+)\b[^\n]*? {2,}/gm)]
      .map((m) => m[1] as string)
      .filter((name) => name !== 'help')
    expect(commands.length).toBeGreaterThan(4)
    for (const command of commands) {
      const text = help([command, '--help'])
      expect(doc, `herald ${command} --help`).toContain(text)
      // Subcommands (`herald schema add`, ...) have their own help in the reference.
      const subcommands = text.includes('\nCommands:\n')
        ? [...(text.split('\nCommands:\n')[1] ?? '').matchAll(/^ {2}([a-z]+)\b/gm)]
            .map((m) => m[1] as string)
            .filter((sub) => sub !== 'help')
        : []
      for (const sub of subcommands) {
        expect(doc, `herald ${command} ${sub} --help`).toContain(help([command, sub, '--help']))
      }
    }
  })
})
