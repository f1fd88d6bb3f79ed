/**
 * A deterministic, realistic mixed event stream for benchmarks: JSON events, multi-line
 * data, comments, CRLF and LF line ends, multibyte and astral text.
 */
export type FixtureText = 'unicode' | 'latin1' | 'ascii'

const vocabularies: Record<FixtureText, string[]> = {
  // CJK and emoji make every decoded chunk a two-byte string in V8.
  unicode: ['order', 'shipped', 'héllo', 'wörld', '日本語', 'données', '🎉', 'status', 'ok'],
  latin1: ['order', 'shipped', 'héllo', 'wörld', 'größe', 'données', 'café', 'status', 'ok'],
  ascii: ['order', 'shipped', 'hello', 'world', 'size', 'data', 'cafe', 'status', 'ok'],
}

export function buildMixedStream(
  targetBytes: number,
  seed = 42,
  text: FixtureText = 'unicode',
): Uint8Array {
  let state = seed >>> 0
  const random = (): number => {
    // xorshift32: fast, deterministic, good enough to vary the shapes.
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 0x100000000
  }
  const words = vocabularies[text]
  const parts: string[] = []
  let size = 0
  let n = 0
  while (size < targetBytes) {
    n++
    const eol = random() < 0.25 ? '\r\n' : '\n'
    const roll = random()
    let frame: string
    if (roll < 0.6) {
      const payload = JSON.stringify({
        id: n,
        user: `user-${Math.floor(random() * 1000)}`,
        text: words[Math.floor(random() * words.length)],
        items: [random(), random(), random()],
        ok: random() < 0.5,
      })
      frame = `id: ${n}${eol}event: update${eol}data: ${payload}${eol}${eol}`
    } else if (roll < 0.8) {
      const lines = 2 + Math.floor(random() * 4)
      frame = `id: ${n}${eol}`
      for (let i = 0; i < lines; i++) {
        frame += `data: line ${i} ${words[Math.floor(random() * words.length)]} of event ${n}${eol}`
      }
      frame += eol
    } else if (roll < 0.9) {
      frame = `: heartbeat ${n}${eol}`
    } else {
      frame = `data: token ${words[Math.floor(random() * words.length)]}${eol}${eol}`
    }
    parts.push(frame)
    size += frame.length
  }
  return new TextEncoder().encode(parts.join(''))
}

/** Splits bytes into fixed-size chunks (views, no copies). */
export function chunk(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  return chunks
}
