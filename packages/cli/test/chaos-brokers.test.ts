/**
 * Black-box: the CI chaos soak on the networked stores: three `herald serve` nodes on a
 * private Redis and on a private NATS (never the shared 6379/4222), with connections cut,
 * the nodes' broker connections reset and black-holed, and nodes SIGKILLed in turn. Nothing
 * lost, duplicated or reordered; exit 0.
 */
import { spawn } from 'node:child_process'
import { type BackendServer, HERALD_BIN, startNatsServer, startRedisServer } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

function chaos(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HERALD_BIN, 'chaos', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c
    })
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c
    })
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

interface Fault {
  kind: string
  detail: string
  recoveryMs: number | null
}

describe.each([
  ['redis', () => startRedisServer({ persistence: 'aof' })],
  ['nats', () => startNatsServer()],
] as Array<[string, () => Promise<BackendServer>]>)('herald chaos on %s', (_name, start) => {
  it('three nodes: cut, broker-cut, node-kill; nothing lost, exit 0', {
    timeout: 150_000,
  }, async () => {
    const server = await start()
    try {
      const { code, stdout, stderr } = await chaos([
        '--store',
        server.url,
        '--duration',
        '20',
        '--subscribers',
        '24',
        '--faults',
        'cut,broker-cut,node-kill',
        '--json',
      ])
      const last = stdout.trim().split('\n').at(-1) ?? ''
      expect(last.startsWith('{'), `no JSON result; stderr:\n${stderr}`).toBe(true)
      const r = JSON.parse(last) as Record<string, unknown>
      expect(r.failures, stderr).toEqual([])
      expect(code).toBe(0)
      expect(r).toMatchObject({
        nodes: 3,
        lost: 0,
        duplicated: 0,
        outOfOrder: 0,
        ackedMissingFromLog: 0,
      })
      const faults = r.faults as Fault[]
      expect(faults.map((f) => f.kind)).toEqual(['cut', 'broker-cut', 'node-kill'])
      expect(faults[1]?.detail).toMatch(/reset [1-9]\d* broker connections/)
      expect(faults[2]?.detail).toMatch(/SIGKILL node 1 \(pid \d+\)/)
      for (const f of faults) expect(f.recoveryMs, f.kind).not.toBeNull()
    } finally {
      await server.dispose()
    }
  })
})
