/**
 * Black-box: the CI chaos soak on the networked stores: three `herald serve` nodes on a
 * private Redis and on a private NATS (never the shared 6379/4222), with connections cut,
 * the nodes' broker connections reset and black-holed, and nodes SIGKILLed in turn. Nothing
 * lost, duplicated or reordered; exit 0.
 */
import { type BackendServer, runHerald, startNatsServer, startRedisServer } from '@herald/testkit'
import { describe, expect, it } from 'vitest'

const chaos = (args: string[]) => runHerald(['chaos', ...args])

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
