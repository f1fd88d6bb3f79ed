import { describe, expect, it } from 'vitest'
import { checkSlos, parseSlo, type SloFigures } from './slo.js'

const figures: SloFigures = {
  p50Ms: 2,
  p95Ms: 8,
  p99Ms: 12,
  maxMs: 40,
  connectP99Ms: 30,
  lost: 1,
  expected: 1000,
  duplicated: 0,
  outOfOrder: 0,
  reconnectSuccessRate: 99.95,
  deliveriesPerSec: 5000,
}

describe('--slo', () => {
  it('parses the issue example and checks each term', () => {
    const slos = parseSlo('p99<250ms,loss=0,reconnect>=99.9%')
    expect(slos.map((s) => [s.metric, s.op, s.value])).toEqual([
      ['p99', '<', 250],
      ['loss', '=', 0],
      ['reconnect', '>=', 99.9],
    ])
    expect(checkSlos(slos, figures).map((r) => r.ok)).toEqual([true, false, true])
  })

  it('takes seconds, percentages of loss and rates', () => {
    const r = checkSlos(parseSlo('max<0.04s, loss<=0.1%, deliveries>=5000/s, p50 > 1'), figures)
    expect(r.map((x) => [x.actual, x.ok])).toEqual([
      [40, false],
      [0.1, true],
      [5000, true],
      [2, true],
    ])
  })

  it('refuses what it cannot read', () => {
    for (const bad of [
      'p99',
      'p98<3',
      'p99<3%',
      'reconnect>99',
      'loss=1ms',
      'deliveries>1ms',
      ',',
      'p99 < -1',
    ]) {
      expect(() => parseSlo(bad), bad).toThrow(TypeError)
    }
  })
})
