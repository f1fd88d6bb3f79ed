/**
 * `herald parse` end to end: the real CLI as a child process, a stream on stdin.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

function run(
  args: string[],
  stdin: Uint8Array[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    // Write in separate chunks so the parser sees a real stream, not one buffer.
    const write = (i: number): void => {
      const chunk = stdin[i]
      if (chunk === undefined) {
        child.stdin.end()
        return
      }
      child.stdin.write(chunk, () => write(i + 1))
    }
    write(0)
  })
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const lines = (stdout: string): unknown[] =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown)

describe('herald parse', () => {
  it('prints one JSON line per event and per retry, across chunk boundaries', async () => {
    const stream = utf8(
      'retry: 1500\r\nid: 7\r\nevent: update\r\ndata: {"a":1}\r\ndata: 日本\r\n\r\n: ping\ndata: x\n\ndata: partial',
    )
    const chunks = [stream.subarray(0, 5), stream.subarray(5, 49), stream.subarray(49)]
    const { code, stdout, stderr } = await run(['parse'], chunks)
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(lines(stdout)).toEqual([
      { retry: 1500 },
      { type: 'update', data: '{"a":1}\n日本', lastEventId: '7' },
      { type: 'message', data: 'x', lastEventId: '7' },
    ])
  })

  it('prints comments with --comments and starts from --last-event-id', async () => {
    const { code, stdout } = await run(
      ['parse', '--comments', '--last-event-id', 'L'],
      [utf8(': hi\ndata: a\n\n')],
    )
    expect(code).toBe(0)
    expect(lines(stdout)).toEqual([
      { comment: 'hi' },
      { type: 'message', data: 'a', lastEventId: 'L' },
    ])
  })

  it('rejects an unknown option with a clear message and exit code 2', async () => {
    const { code, stderr } = await run(['parse', '--nope'], [])
    expect(code).toBe(2)
    expect(stderr).toMatch(/herald parse: .*--nope/)
    expect(stderr).toContain('Usage: herald parse')
  })

  it('prints usage for an unknown command with exit code 2', async () => {
    const { code, stderr } = await run(['frobnicate'], [])
    expect(code).toBe(2)
    expect(stderr).toContain("unknown command 'frobnicate'")
  })
})
