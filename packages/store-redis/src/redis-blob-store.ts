/**
 * The Redis store's blobs, under the store's keys (`herald:v1:{namespace}:`): one hash per
 * blob, `blob:{id}` (`m` the JSON metadata, `d` the bytes, `l` its event's cursor once
 * linked), and a sorted set `blobs` of every id (score 0: ordered by id) for listing. Writes
 * are Lua scripts, so a blob and its index entry appear and go together.
 */
import type { BlobInfo, BlobStore } from '@herald/store'
import { assertBlobInput, isBlobId, toBlobInfo } from '@herald/store'
import type { RedisConnection } from './connection.js'

/** Default largest blob of the Redis store: 16 MiB (one command carries it). */
export const REDIS_DEFAULT_MAX_BLOB_BYTES = 16 * 1024 * 1024

// ARGV: key, index, id, meta, data. 0 when the id is taken.
const PUT = `
if redis.call('EXISTS', ARGV[1]) == 1 then return 0 end
redis.call('HSET', ARGV[1], 'm', ARGV[4], 'd', ARGV[5])
redis.call('ZADD', ARGV[2], 0, ARGV[3])
return 1
`
// ARGV: key, cursor.
const LINK = `
if redis.call('EXISTS', ARGV[1]) == 0 then return 0 end
redis.call('HSET', ARGV[1], 'l', ARGV[2])
return 1
`
// ARGV: key, index, id.
const DELETE = `
local n = redis.call('DEL', ARGV[1])
redis.call('ZREM', ARGV[2], ARGV[3])
return n
`

type Meta = Omit<BlobInfo, 'eventId'>

function info(meta: Buffer | string, link: Buffer | string | null): BlobInfo {
  const parsed = JSON.parse(meta.toString()) as Meta
  return { ...parsed, after: parsed.after, eventId: link === null ? undefined : link.toString() }
}

/** Creates the {@link BlobStore} of a Redis store over its connection and key prefix. */
export function createRedisBlobStore(
  connection: RedisConnection,
  prefix: string,
  maxBlobBytes = REDIS_DEFAULT_MAX_BLOB_BYTES,
): BlobStore {
  const key = (id: string) => `${prefix}blob:${id}`
  const index = `${prefix}blobs`
  return {
    maxBlobBytes,
    async put(input) {
      assertBlobInput(input, maxBlobBytes)
      const result = toBlobInfo(input)
      const { eventId: _, ...meta } = result
      const bytes = Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.length)
      const stored = await connection.script<number>(PUT, [
        key(input.id),
        index,
        input.id,
        JSON.stringify(meta),
        bytes,
      ])
      if (stored !== 1) throw new TypeError(`blob ${input.id} is already stored`)
      return result
    },
    async link(id, eventId) {
      if (!isBlobId(id)) return false
      return (await connection.script<number>(LINK, [key(id), eventId])) === 1
    },
    async get(id) {
      if (!isBlobId(id)) return undefined
      const [meta, data, link] = await connection.command<(Buffer | null)[]>(
        ['HMGET', key(id), 'm', 'd', 'l'],
        undefined,
        true,
      )
      if (meta == null || data == null) return undefined
      return { info: info(meta, link ?? null), bytes: new Uint8Array(data) }
    },
    async delete(id) {
      if (!isBlobId(id)) return false
      return (await connection.script<number>(DELETE, [key(id), index, id])) === 1
    },
    async list(after, limit) {
      const ids = await connection.command<string[]>([
        'ZRANGEBYLEX',
        index,
        after === undefined ? '-' : `(${after}`,
        '+',
        'LIMIT',
        '0',
        String(limit),
      ])
      const out: BlobInfo[] = []
      for (const id of ids) {
        const [meta, link] = await connection.command<(string | null)[]>([
          'HMGET',
          key(id),
          'm',
          'l',
        ])
        if (meta != null) out.push(info(meta, link ?? null))
      }
      return out
    },
  }
}
