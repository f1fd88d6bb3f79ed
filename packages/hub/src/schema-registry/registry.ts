/**
 * The schema registry: versioned JSON Schemas per topic pattern, kept in the store's
 * {@link SchemaStore} (so every node agrees), checked for compatibility on registration,
 * compiled once per version with Ajv, and applied to every publish.
 *
 * Freshness across nodes: before validating a publish the registry asks the store for its
 * `schemaRevision()` (one cheap read); when it moved, the cached versions are re-read. A
 * version registered on any node is therefore applied by every node from the first publish
 * that starts after its registration was answered. A store that reads its revision without
 * I/O (`schemaRevisionNow`, the memory store) is asked synchronously, and a publish whose
 * schemas did not change is checked at once (`validateNow`), with no promise per publish.
 * A store whose appends check the revision (`knownSchemaRevision`: Redis) is not asked at
 * all: the registry validates against its cache (at once) while the store last saw the
 * cache's revision, and stamps that revision on the events (`schemaRevision`); an append
 * whose revision moved is refused (`HERALD_SCHEMA_CONFLICT`), and the hub validates again
 * (the store knows the new revision by then) and appends again.
 */

import { createRequire } from 'node:module'
import { HeraldError, isHeraldError } from '@herald/protocol'
import type { AppendInput, SchemaCompatibility, SchemaStore, SchemaVersion } from '@herald/store'
import { assertValidTopic, assertValidTopicPattern, createTopicMatcher } from '@herald/store'
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv'
import type { Ajv2020 } from 'ajv/dist/2020.js'
import type addFormats from 'ajv-formats'
import type { SchemaChange } from './compatibility.js'
import { canonicalJson, findBreakingChanges } from './compatibility.js'

/** Every compatibility a registration may ask for. */
export const SCHEMA_COMPATIBILITIES: readonly SchemaCompatibility[] = [
  'backward',
  'forward',
  'full',
  'none',
]

/** What `POST /schemas` answers. */
export interface RegisteredSchema {
  /** The topic pattern. */
  readonly topic: string
  /** The version: the new one, or the latest when it was the same schema. */
  readonly version: number
  /** `false` when the schema equals the latest version (nothing was stored). */
  readonly created: boolean
}

/** A pattern and its versions, oldest first. */
export interface SchemaHistory {
  /** The topic pattern. */
  readonly topic: string
  /** Its versions, oldest first. */
  readonly versions: readonly SchemaVersion[]
}

/** The schema registry of one hub node. */
export interface SchemaRegistry {
  /**
   * Registers `schema` as the next version for the pattern `topic`.
   *
   * @throws {HeraldError} `HERALD_INVALID_TOPIC`, `HERALD_SCHEMA_INVALID` (400),
   * `HERALD_SCHEMA_INCOMPATIBLE` (409, with `details.changes`), `HERALD_SCHEMA_CONFLICT`.
   */
  register(topic: unknown, schema: unknown, compatibility?: unknown): Promise<RegisteredSchema>
  /** Every pattern with its versions, by pattern. */
  list(): Promise<SchemaHistory[]>
  /**
   * The latest version of the most specific pattern matching the concrete `topic`, or
   * `undefined`. @throws {HeraldError} `HERALD_INVALID_TOPIC` for a pattern or a bad topic.
   */
  lookup(topic: unknown): Promise<SchemaVersion | undefined>
  /**
   * Validates the data of `events` against their topics' latest schemas, all or nothing, and
   * records on each event the version it was validated against (`schemaVersion`).
   *
   * @throws {HeraldError} `HERALD_SCHEMA_VIOLATION` (400, with `details`) for the first
   * event that does not match.
   */
  validate(events: readonly AppendInput[]): Promise<void>
  /**
   * {@link validate} at once, when the store answers its revision synchronously
   * (`schemaRevisionNow`) and it has not moved since the cache was filled, or when the store
   * checks the revision on append (`knownSchemaRevision`) and last saw the cache's: `true` when the
   * events were checked (and their versions recorded), `false` when they were not (call
   * {@link validate}). A publish then waits for no promise.
   *
   * @throws {HeraldError} `HERALD_SCHEMA_VIOLATION` as {@link validate}.
   */
  validateNow(events: readonly AppendInput[]): boolean
}

/**
 * Orders patterns for one topic: the most specific first. A concrete topic beats any
 * pattern; then more literal segments; then `*` over `**` (fewer `**`); then more segments;
 * then code point order of the pattern (the smaller first), so that a tie is decided the
 * same way on every node.
 */
export function compareSpecificity(a: string, b: string): number {
  const score = (p: string): [number, number, number, number] => {
    const segments = p.split('/')
    let literal = 0
    let deep = 0
    for (const s of segments) {
      if (s === '**') deep++
      else if (s !== '*') literal++
    }
    return [p.includes('*') ? 0 : 1, literal, -deep, segments.length]
  }
  const sa = score(a)
  const sb = score(b)
  for (let i = 0; i < 4; i++) {
    const d = (sb[i] as number) - (sa[i] as number)
    if (d !== 0) return d
  }
  return a < b ? -1 : a > b ? 1 : 0
}

const DRAFT_2020 = /^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/

const require = createRequire(import.meta.url)

/**
 * Ajv for draft-07 and for 2020-12, made on the first schema compiled. Ajv, its formats and the
 * two instances (each compiles its meta-schemas) are about 2.5 MiB of heap that a hub without
 * schemas never needs. Loaded synchronously (all three are CommonJS), so a schema that is
 * registered or read at startup still fails there, not at its first publish.
 */
function loadAjv(): { draft7: Ajv; draft2020: Ajv2020 } {
  const { Ajv: Draft7 } = require('ajv') as typeof import('ajv')
  const { Ajv2020: Draft2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js')
  const formats = require('ajv-formats') as typeof addFormats
  const options = { strict: false, allErrors: false, logger: false } as const
  const draft7 = new Draft7(options)
  const draft2020 = new Draft2020(options)
  formats.default(draft7 as unknown as Parameters<typeof formats.default>[0])
  formats.default(draft2020 as unknown as Parameters<typeof formats.default>[0])
  return { draft7, draft2020 }
}

/**
 * One pointer to the failing value (`/lines/0/qty`; for `required`, the missing field; for
 * `additionalProperties`, the field that is not allowed).
 */
function pointerOf(error: ErrorObject): string {
  const params = error.params as { missingProperty?: unknown; additionalProperty?: unknown }
  const field =
    error.keyword === 'required'
      ? params.missingProperty
      : error.keyword === 'additionalProperties'
        ? params.additionalProperty
        : undefined
  if (typeof field === 'string') {
    return `${error.instancePath}/${field.replace(/~/g, '~0').replace(/\//g, '~1')}`
  }
  return error.instancePath
}

interface Compiled {
  readonly version: SchemaVersion
  readonly validate: ValidateFunction
}

/** Creates the registry over `store`. */
export function createSchemaRegistry(store: SchemaStore): SchemaRegistry {
  let ajv: ReturnType<typeof loadAjv> | undefined
  const ajvFor = (schema: unknown): Ajv | Ajv2020 => {
    ajv ??= loadAjv()
    return typeof schema === 'object' &&
      schema !== null &&
      DRAFT_2020.test(String((schema as { $schema?: unknown }).$schema ?? ''))
      ? ajv.draft2020
      : ajv.draft7
  }

  /** Compiled validators by pattern and version: each version is compiled once. */
  const compiled = new Map<string, Compiled>()
  let revision = -1
  let latest: SchemaVersion[] = []
  let byPattern: { pattern: string; matcher: ReturnType<typeof createTopicMatcher> }[] = []
  /** Topic -> its schema's latest version (or null), for the current revision. Bounded. */
  const resolved = new Map<string, Compiled | null>()
  /** The revision read in flight, if any. */
  let inFlight: Promise<void> | undefined
  /** The one read queued behind it, shared by every caller that arrived meanwhile. */
  let queued: Promise<void> | undefined

  function compile(schema: unknown): ValidateFunction {
    const ajv = ajvFor(schema)
    if (!ajv.validateSchema(schema as object)) {
      throw new HeraldError(
        'HERALD_SCHEMA_INVALID',
        `not a valid JSON Schema: ${ajv.errorsText(ajv.errors, { dataVar: 'schema' })}`,
        { status: 400 },
      )
    }
    try {
      return ajv.compile(schema as object)
    } catch (error) {
      throw new HeraldError(
        'HERALD_SCHEMA_INVALID',
        `not a valid JSON Schema: ${(error as Error).message}`,
        { status: 400, cause: error },
      )
    } finally {
      // Compiled functions are kept in `compiled`; Ajv's own cache would only grow.
      ajv.removeSchema(schema as object)
    }
  }

  function compiledOf(version: SchemaVersion): Compiled {
    const key = `${version.topic}\u0000${version.version}`
    let found = compiled.get(key)
    if (found === undefined) {
      found = { version, validate: compile(JSON.parse(version.schema)) }
      compiled.set(key, found)
    }
    return found
  }

  async function load(): Promise<void> {
    const now = await store.schemaRevision()
    if (now === revision) return
    const all = await store.listSchemas()
    const last = new Map<string, SchemaVersion>()
    for (const v of all) last.set(v.topic, v)
    latest = [...last.values()]
    byPattern = latest
      .map((v) => v.topic)
      .sort(compareSpecificity)
      .map((pattern) => ({ pattern, matcher: createTopicMatcher([pattern]) }))
    resolved.clear()
    revision = now
  }

  function start(): Promise<void> {
    const run: Promise<void> = load().finally(() => {
      if (inFlight === run) inFlight = undefined
    })
    inFlight = run
    return run
  }

  /**
   * Brings the cache up to the store's revision. A caller must see a read that STARTED after
   * it arrived (a read already in flight may predate a registration answered just before), so
   * callers arriving during a read share ONE read queued behind it: a burst of publishes costs
   * at most two store round trips, not one each in a row.
   */
  function refresh(): Promise<void> {
    if (inFlight === undefined) return start()
    if (queued === undefined) {
      const after = inFlight.then(
        () => undefined,
        () => undefined,
      )
      queued = after.then(() => {
        queued = undefined
        return start()
      })
    }
    return queued
  }

  function resolve(topic: string): Compiled | null {
    let found = resolved.get(topic)
    if (found !== undefined) return found
    found = null
    for (const { pattern, matcher } of byPattern) {
      if (!matcher.matches(topic)) continue
      const version = latest.find((v) => v.topic === pattern)
      if (version !== undefined) found = compiledOf(version)
      break
    }
    if (resolved.size >= 10_000) resolved.clear()
    resolved.set(topic, found)
    return found
  }

  /**
   * Records on `events` the revision of the cache they are validated against, for a store
   * whose appends check it (`knownSchemaRevision`).
   */
  function stamp(events: readonly AppendInput[]): void {
    if (store.knownSchemaRevision === undefined) return
    for (let i = 0; i < events.length; i++) (events[i] as AppendInput).schemaRevision = revision
  }

  /** Validates `events` against the cached schemas (current: see refresh). */
  function check(events: readonly AppendInput[]): void {
    if (latest.length === 0) return
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as AppendInput
      let version: number | undefined
      const topics =
        event.alternates === undefined ? [event.topic] : [event.topic, ...event.alternates]
      let value: unknown
      let parsed = false
      for (const topic of topics) {
        const found = resolve(topic)
        if (found === null) continue
        if (!parsed) {
          parsed = true
          try {
            value = JSON.parse(event.data)
          } catch {
            value = event.data
          }
        }
        if (!found.validate(value)) {
          const error = found.validate.errors?.[0]
          const at = error === undefined ? '' : pointerOf(error)
          const rule = error?.keyword ?? 'unknown'
          const where = events.length > 1 ? `events[${i}]: ` : ''
          const failure = new HeraldError(
            'HERALD_SCHEMA_VIOLATION',
            `${where}data for ${JSON.stringify(topic)} does not match schema version ${found.version.version} of ${JSON.stringify(found.version.topic)}: at ${JSON.stringify(at)} ${error?.message ?? 'invalid'} (rule: ${rule})`,
            { status: 400 },
          )
          Object.assign(failure, {
            details: {
              ...(events.length > 1 ? { index: i } : {}),
              topic,
              schema: { topic: found.version.topic, version: found.version.version },
              pointer: at,
              rule,
              schemaPath: error?.schemaPath ?? '',
              message: error?.message ?? 'invalid',
            },
          })
          throw failure
        }
        version ??= found.version.version
      }
      if (version !== undefined) event.schemaVersion = version
    }
  }

  function history(all: readonly SchemaVersion[]): SchemaHistory[] {
    const out: SchemaHistory[] = []
    for (const v of all) {
      const last = out.at(-1)
      if (last !== undefined && last.topic === v.topic) (last.versions as SchemaVersion[]).push(v)
      else out.push({ topic: v.topic, versions: [v] })
    }
    return out
  }

  return {
    async register(topic, schema, compatibility = 'backward') {
      assertValidTopicPattern(topic)
      if (!SCHEMA_COMPATIBILITIES.includes(compatibility as SchemaCompatibility)) {
        throw new HeraldError(
          'HERALD_SCHEMA_INVALID',
          `compatibility must be one of ${SCHEMA_COMPATIBILITIES.join(', ')}`,
          { status: 400 },
        )
      }
      if (
        typeof schema !== 'boolean' &&
        (typeof schema !== 'object' || schema === null || Array.isArray(schema))
      ) {
        throw new HeraldError(
          'HERALD_SCHEMA_INVALID',
          'schema must be a JSON Schema: an object (or true/false)',
          { status: 400 },
        )
      }
      compile(schema)
      const mode = compatibility as SchemaCompatibility
      const text = JSON.stringify(schema)
      for (let attempt = 0; ; attempt++) {
        const versions = (await store.listSchemas()).filter((v) => v.topic === topic)
        const previous = versions.at(-1)
        if (previous !== undefined) {
          const before = JSON.parse(previous.schema) as unknown
          if (canonicalJson(before) === canonicalJson(schema)) {
            return { topic, version: previous.version, created: false }
          }
          const changes: SchemaChange[] = findBreakingChanges(before, schema, mode)
          if (changes.length > 0) {
            const error = new HeraldError(
              'HERALD_SCHEMA_INCOMPATIBLE',
              `the schema is not ${mode} compatible with version ${previous.version} of ${JSON.stringify(topic)}: ${changes
                .map((c) => `${c.kind} at ${c.path || '/'} (${c.message})`)
                .join('; ')}`,
              { status: 409 },
            )
            Object.assign(error, {
              details: { topic, version: previous.version, compatibility: mode, changes },
            })
            throw error
          }
        }
        try {
          const stored = await store.registerSchema(
            { topic, schema: text, compatibility: mode },
            previous?.version ?? 0,
          )
          return { topic, version: stored.version, created: true }
        } catch (error) {
          if (!isHeraldError(error, 'HERALD_SCHEMA_CONFLICT') || attempt >= 4) throw error
        }
      }
    },

    async list() {
      return history(await store.listSchemas())
    },

    async lookup(topic) {
      assertValidTopic(topic)
      await refresh()
      return resolve(topic)?.version
    },

    async validate(events) {
      const known = store.knownSchemaRevision?.()
      // A store that checks the revision on append: no read while the cache is of the
      // revision the store last saw (the append refuses the events if it moved since).
      if (known === undefined || known !== revision) {
        await refresh()
        stamp(events)
        check(events)
        return
      }
      stamp(events)
      try {
        check(events)
      } catch (error) {
        // Refused by a cache not read since the publish arrived: no append will check it (a
        // version registered since, on another node, may accept the events). Read, and check
        // again against what is current.
        if (!isHeraldError(error, 'HERALD_SCHEMA_VIOLATION')) throw error
        await refresh()
        stamp(events)
        check(events)
      }
    },

    validateNow(events) {
      const known = store.knownSchemaRevision?.()
      if (known !== undefined) {
        // The append checks what this validation cannot (a registration since).
        if (known !== revision) return false
        stamp(events)
        try {
          check(events)
        } catch (error) {
          // A refusal is confirmed against a fresh read first (validate does).
          if (isHeraldError(error, 'HERALD_SCHEMA_VIOLATION')) return false
          throw error
        }
        return true
      }
      if (store.schemaRevisionNow === undefined) return false
      let now: number
      try {
        now = store.schemaRevisionNow()
      } catch {
        // A closed or failing store: validate() reads again and rejects with its error.
        return false
      }
      // A read made now, after the publish arrived: the cache is current when it matches.
      if (now !== revision) return false
      check(events)
      return true
    },
  }
}
