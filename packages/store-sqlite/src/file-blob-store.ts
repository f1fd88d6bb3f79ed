/**
 * The SQLite store's blobs: a sidecar directory next to the database file
 * (`herald.db.blobs/v1/`), one file per blob, not rows in the log's file. Why: a blob of
 * megabytes written into SQLite pages goes through the WAL and holds the write lock that
 * every publish of every process needs; a file is written outside that lock, and a rename
 * makes it appear whole or not at all.
 *
 * Layout (v1): `<id>.blob` holds a 4-byte big-endian length, that many bytes of JSON metadata,
 * then the content; `<id>.link` holds the cursor of the blob's event once linked. Writes go to
 * a temporary name first and are renamed into place (atomic on one file system); several
 * processes may share the directory.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HeraldError } from '@herald/protocol'
import type { BlobInfo, BlobStore } from '@herald/store'
import { assertBlobInput, isBlobId, toBlobInfo } from '@herald/store'

/** Options of {@link createFileBlobStore}. */
export interface FileBlobStoreOptions {
  /** The directory (created if missing); the layout version is a subdirectory of it. */
  dir: string
  /** Largest blob, in bytes. Default 64 MiB. */
  maxBlobBytes?: number | undefined
  /** Throws `HERALD_STORE_CLOSED` once the owner closed. */
  assertOpen?: (() => void) | undefined
}

const BLOB = '.blob'
const LINK = '.link'

function missing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT'
}

function unavailable(error: unknown): HeraldError {
  return new HeraldError(
    'HERALD_STORE_UNAVAILABLE',
    `blob directory: ${(error as Error).message}`,
    {
      status: 503,
      cause: error,
    },
  )
}

type Meta = Omit<BlobInfo, 'eventId'>

/** Creates a {@link BlobStore} in a directory. */
export function createFileBlobStore(options: FileBlobStoreOptions): BlobStore {
  const dir = join(options.dir, 'v1')
  mkdirSync(dir, { recursive: true })
  const maxBlobBytes = options.maxBlobBytes ?? 64 * 1024 * 1024
  const assertOpen = options.assertOpen ?? (() => {})
  const path = (id: string, ext: string): string => join(dir, `${id}${ext}`)

  /** Writes `bytes` to `target` whole or not at all. */
  async function writeAtomic(target: string, bytes: Uint8Array | string): Promise<void> {
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`
    try {
      await writeFile(temp, bytes)
      await rename(temp, target)
    } catch (error) {
      await unlink(temp).catch(() => {})
      throw error
    }
  }

  async function readLink(id: string): Promise<string | undefined> {
    try {
      return (await readFile(path(id, LINK), 'utf8')) || undefined
    } catch (error) {
      if (missing(error)) return undefined
      throw unavailable(error)
    }
  }

  /** The file's metadata and content, or `undefined`. */
  async function read(id: string): Promise<{ meta: Meta; bytes: Uint8Array } | undefined> {
    let file: Buffer
    try {
      file = await readFile(path(id, BLOB))
    } catch (error) {
      if (missing(error)) return undefined
      throw unavailable(error)
    }
    const length = file.readUInt32BE(0)
    const meta = JSON.parse(file.subarray(4, 4 + length).toString('utf8')) as Meta
    return { meta, bytes: file.subarray(4 + length) }
  }

  /** The metadata alone (the sweep lists blobs without reading their content). */
  async function readMeta(id: string): Promise<Meta | undefined> {
    let handle: Awaited<ReturnType<typeof open>>
    try {
      handle = await open(path(id, BLOB), 'r')
    } catch (error) {
      if (missing(error)) return undefined
      throw unavailable(error)
    }
    try {
      const length = Buffer.alloc(4)
      await handle.read(length, 0, 4, 0)
      const head = Buffer.alloc(length.readUInt32BE(0))
      await handle.read(head, 0, head.length, 4)
      return JSON.parse(head.toString('utf8')) as Meta
    } finally {
      await handle.close()
    }
  }

  return {
    maxBlobBytes,
    async put(input) {
      assertOpen()
      assertBlobInput(input, maxBlobBytes)
      const info = toBlobInfo(input)
      const exists = await stat(path(input.id, BLOB)).then(
        () => true,
        (error: unknown) => (missing(error) ? false : Promise.reject(unavailable(error))),
      )
      if (exists) throw new TypeError(`blob ${input.id} is already stored`)
      const { eventId: _, ...meta } = info
      const head = Buffer.from(JSON.stringify(meta), 'utf8')
      const length = Buffer.alloc(4)
      length.writeUInt32BE(head.length)
      try {
        await writeAtomic(path(input.id, BLOB), Buffer.concat([length, head, input.bytes]))
      } catch (error) {
        throw unavailable(error)
      }
      return info
    },
    async link(id, eventId) {
      assertOpen()
      if (!isBlobId(id)) return false
      const exists = await stat(path(id, BLOB)).then(
        () => true,
        () => false,
      )
      if (!exists) return false
      try {
        await writeAtomic(path(id, LINK), eventId)
      } catch (error) {
        throw unavailable(error)
      }
      return true
    },
    async get(id) {
      assertOpen()
      if (!isBlobId(id)) return undefined
      const found = await read(id)
      if (found === undefined) return undefined
      const eventId = await readLink(id)
      return { info: { ...found.meta, after: found.meta.after, eventId }, bytes: found.bytes }
    },
    async delete(id) {
      assertOpen()
      if (!isBlobId(id)) return false
      let existed = true
      try {
        await unlink(path(id, BLOB))
      } catch (error) {
        if (!missing(error)) throw unavailable(error)
        existed = false
      }
      await unlink(path(id, LINK)).catch(() => {})
      return existed
    },
    async list(after, limit) {
      assertOpen()
      let names: string[]
      try {
        names = await readdir(dir)
      } catch (error) {
        throw unavailable(error)
      }
      const ids = names
        .filter((name) => name.endsWith(BLOB))
        .map((name) => name.slice(0, -BLOB.length))
        .filter((id) => isBlobId(id) && (after === undefined || id > after))
        .sort()
        .slice(0, limit)
      const out: BlobInfo[] = []
      for (const id of ids) {
        const meta = await readMeta(id)
        if (meta !== undefined)
          out.push({ ...meta, after: meta.after, eventId: await readLink(id) })
      }
      return out
    },
  }
}
