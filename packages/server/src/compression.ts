/**
 * Opt-in compression for Node transports: one zlib stream per session, flushed after every
 * coalesced write so events are never held back inside the compressor.
 *
 * Off by default, because: each session holds its own compressor state (tens to hundreds of
 * KiB, against a few KiB for an idle plain stream); a shared frame must be compressed once per
 * session, which throws away encode-once fan-out; intermediaries sometimes buffer compressed
 * responses; and compressing secrets next to attacker-influenced data in one stream is the
 * BREACH pattern.
 */
import type { Transform } from 'node:stream'
import type * as Zlib from 'node:zlib'
import { NodeSink, type NodeWritable } from './node-sink.js'

// node:zlib is loaded on first use, not imported: the package's module graph then has no
// runtime `node:` import, so `handleFetch` loads on any runtime with Web Streams.
let zlib: typeof Zlib | undefined

function loadZlib(): typeof Zlib {
  if (zlib !== undefined) return zlib
  const getBuiltinModule = (
    globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
  ).process?.getBuiltinModule
  if (getBuiltinModule === undefined) {
    throw new TypeError('compression needs node:zlib (Node >= 20.16, Bun or Deno)')
  }
  zlib = getBuiltinModule('node:zlib') as typeof Zlib
  return zlib
}

class CompressedSink extends NodeSink {
  private readonly compressor: Transform
  private readonly flushKind: number

  constructor(writable: NodeWritable, encoding: 'br' | 'gzip') {
    super(writable)
    const { constants, createBrotliCompress, createGzip } = loadZlib()
    if (encoding === 'br') {
      // Quality 11 (the default) costs far too much CPU per event; 5 keeps most of the gain.
      this.compressor = createBrotliCompress({
        params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 18 },
      })
      this.flushKind = constants.BROTLI_OPERATION_FLUSH
    } else {
      this.compressor = createGzip({ level: 6, memLevel: 8 })
      this.flushKind = constants.Z_SYNC_FLUSH
    }
    this.compressor.on('data', (chunk: Buffer) => {
      if (!writable.destroyed) writable.write(chunk)
    })
    this.compressor.on('end', () => {
      if (!writable.destroyed) writable.end()
    })
    this.compressor.on('error', (error: Error) => {
      writable.destroy(error)
    })
  }

  override write(chunk: Uint8Array, done?: () => void): void {
    this.compressor.write(chunk, done)
    ;(this.compressor as unknown as { flush(kind: number): void }).flush(this.flushKind)
  }

  override writev(chunks: readonly Uint8Array[], done?: () => void): void {
    const last = chunks.length - 1
    for (let i = 0; i < last; i++) this.compressor.write(chunks[i] as Uint8Array)
    if (last >= 0) this.compressor.write(chunks[last] as Uint8Array, done)
    else done?.()
    ;(this.compressor as unknown as { flush(kind: number): void }).flush(this.flushKind)
  }

  override get buffered(): number {
    return (
      this.compressor.writableLength + this.compressor.readableLength + this.writable.writableLength
    )
  }

  override onDrain(listener: () => void): void {
    // Bytes wait in the compressor or the response: either draining may make room.
    this.compressor.on('drain', listener)
    super.onDrain(listener)
  }

  override end(done?: () => void): void {
    super.detach()
    if (done !== undefined) {
      if (this.writable.destroyed) done()
      else this.writable.on('close', done)
    }
    this.compressor.end()
  }

  override destroy(): void {
    this.compressor.destroy()
    super.destroy()
  }
}

/** @internal A sink that compresses with `encoding` before writing to `writable`. */
export function compressSink(writable: NodeWritable, encoding: 'br' | 'gzip'): NodeSink {
  return new CompressedSink(writable, encoding)
}

/** @internal Throws a `TypeError` when node:zlib cannot be loaded on this runtime. */
export function assertCompressionAvailable(): void {
  loadZlib()
}
