/**
 * The Redis {@link SchemaStore}. Keys (P is the store's prefix, `herald:v1:{namespace}:`, in
 * the log's cluster slot):
 * - `P schemas` hash: `<pattern>\n<version>` -> JSON `{ "s": schema text, "c": compatibility,
 *   "a": registeredAt }`; its length is the revision (versions are never deleted);
 * - `P schemas:latest` hash: pattern -> its latest version.
 * A registration is one Lua script: the compare-and-set and both writes happen together.
 * The append script reads the revision too: it refuses a batch validated against another one
 * (so the hub need not read it before every publish) and answers it.
 */
import type { SchemaCompatibility, SchemaStore, SchemaVersion } from '@herald/store'
import { schemaConflict, sortSchemaVersions } from '@herald/store'
import type { RedisConnection } from './connection.js'

/**
 * ARGV: prefix, pattern, previous version, record JSON. Returns { ok (1/0), latest, revision }.
 */
const REGISTER_SCRIPT = `
local P, topic, previous, record = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local latest = tonumber(redis.call('HGET', P .. 'schemas:latest', topic) or '0')
if latest ~= previous then return { 0, latest, redis.call('HLEN', P .. 'schemas') } end
redis.call('HSET', P .. 'schemas', topic .. '\\n' .. (previous + 1), record)
redis.call('HSET', P .. 'schemas:latest', topic, previous + 1)
return { 1, previous + 1, redis.call('HLEN', P .. 'schemas') }
`

interface Record {
  s: string
  c: SchemaCompatibility
  a: number
}

/** @internal Creates the schema store over the store's connection. */
export function createRedisSchemaStore(
  connection: RedisConnection,
  prefix: string,
  options: {
    now: () => number
    assertOpen: () => void
    /** The revision last learned from Redis; the event store's appends update it too. */
    state: { known: number | undefined }
  },
): SchemaStore {
  const { state } = options
  return {
    async registerSchema(registration, previous) {
      options.assertOpen()
      const registeredAt = options.now()
      const record: Record = {
        s: registration.schema,
        c: registration.compatibility,
        a: registeredAt,
      }
      const [ok, latest, revision] = await connection.script<[number, number, number]>(
        REGISTER_SCRIPT,
        [prefix, registration.topic, String(previous), JSON.stringify(record)],
      )
      state.known = Number(revision)
      if (ok !== 1) throw schemaConflict(registration.topic, previous, Number(latest))
      return { ...registration, version: previous + 1, registeredAt }
    },
    async listSchemas() {
      options.assertOpen()
      const flat = await connection.command<string[]>(['HGETALL', `${prefix}schemas`])
      const out: SchemaVersion[] = []
      for (let i = 0; i < flat.length; i += 2) {
        const key = flat[i] as string
        const cut = key.lastIndexOf('\n')
        const record = JSON.parse(flat[i + 1] as string) as Record
        out.push({
          topic: key.slice(0, cut),
          version: Number(key.slice(cut + 1)),
          schema: record.s,
          compatibility: record.c,
          registeredAt: record.a,
        })
      }
      return sortSchemaVersions(out)
    },
    async schemaRevision() {
      options.assertOpen()
      const revision = Number(await connection.command<number>(['HLEN', `${prefix}schemas`]))
      state.known = revision
      return revision
    },
    // The append script checks the revision of every batch and answers the current one.
    knownSchemaRevision: () => state.known,
  }
}
