/**
 * The Redis {@link SchemaStore}. Keys (P is the store's prefix, `herald:v1:{namespace}:`, in
 * the log's cluster slot):
 * - `P schemas` hash: `<pattern>\n<version>` -> JSON `{ "s": schema text, "c": compatibility,
 *   "a": registeredAt }`; its length is the revision (versions are never deleted);
 * - `P schemas:latest` hash: pattern -> its latest version.
 * A registration is one Lua script: the compare-and-set and both writes happen together.
 */
import type { SchemaCompatibility, SchemaStore, SchemaVersion } from '@herald/store'
import { schemaConflict, sortSchemaVersions } from '@herald/store'
import type { RedisConnection } from './connection.js'

/** ARGV: prefix, pattern, previous version, record JSON. Returns { ok (1/0), latest }. */
const REGISTER_SCRIPT = `
local P, topic, previous, record = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local latest = tonumber(redis.call('HGET', P .. 'schemas:latest', topic) or '0')
if latest ~= previous then return { 0, latest } end
redis.call('HSET', P .. 'schemas', topic .. '\\n' .. (previous + 1), record)
redis.call('HSET', P .. 'schemas:latest', topic, previous + 1)
return { 1, previous + 1 }
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
  options: { now: () => number; assertOpen: () => void },
): SchemaStore {
  return {
    async registerSchema(registration, previous) {
      options.assertOpen()
      const registeredAt = options.now()
      const record: Record = {
        s: registration.schema,
        c: registration.compatibility,
        a: registeredAt,
      }
      const [ok, latest] = await connection.script<[number, number]>(REGISTER_SCRIPT, [
        prefix,
        registration.topic,
        String(previous),
        JSON.stringify(record),
      ])
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
      return Number(await connection.command<number>(['HLEN', `${prefix}schemas`]))
    },
  }
}
