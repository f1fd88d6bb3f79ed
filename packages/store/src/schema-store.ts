/**
 * The schema boundary of the hub: a registry of versioned JSON Schemas per topic pattern,
 * kept in the same backend as the log so that every node of a cluster agrees on them. The
 * hub decides compatibility and validates; a {@link SchemaStore} only keeps versions, refuses
 * a registration that lost a race, and says when anything changed.
 */
import { HeraldError } from '@herald/protocol'

/** How a new version must relate to the previous one of its pattern. */
export type SchemaCompatibility = 'backward' | 'forward' | 'full' | 'none'

/** What a registration stores. */
export interface SchemaRegistration {
  /** Topic pattern (`orders/*`), as `assertValidTopicPattern` accepts it. */
  readonly topic: string
  /** The JSON Schema, as JSON text (kept byte for byte). */
  readonly schema: string
  /** The compatibility the version was checked against. */
  readonly compatibility: SchemaCompatibility
}

/** One registered version. */
export interface SchemaVersion extends SchemaRegistration {
  /** 1 for a pattern's first version, then 2, 3, ... with no gap. */
  readonly version: number
  /** When the store accepted it, in milliseconds since the epoch. */
  readonly registeredAt: number
}

/**
 * Versioned schemas per topic pattern, shared by every instance on one backend. Versions are
 * never changed or deleted. Implementations run `runSchemaStoreContract` from
 * `@herald/store/contract`.
 */
export interface SchemaStore {
  /**
   * Stores `registration` as version `previous + 1` of its pattern, provided the pattern's
   * latest version on the backend is still `previous` (0: none), atomically (a compare and
   * set: of two instances registering after the same version, one wins).
   *
   * @throws {HeraldError} `HERALD_SCHEMA_CONFLICT` (409) when the latest version is no longer
   * `previous` (nothing stored: read again and retry); `HERALD_STORE_UNAVAILABLE`,
   * `HERALD_STORE_CLOSED`.
   */
  registerSchema(registration: SchemaRegistration, previous: number): Promise<SchemaVersion>
  /**
   * Every version of every pattern, by pattern (code point order), then version.
   *
   * @throws {HeraldError} `HERALD_STORE_UNAVAILABLE`, `HERALD_STORE_CLOSED`.
   */
  listSchemas(): Promise<SchemaVersion[]>
  /**
   * The number of versions registered on the backend (by any instance): it grows with every
   * registration, so a cache of {@link listSchemas} is current while it is unchanged. Cheap:
   * the hub asks before validating a publish.
   *
   * @throws {HeraldError} `HERALD_STORE_UNAVAILABLE`, `HERALD_STORE_CLOSED`.
   */
  schemaRevision(): Promise<number>
  /**
   * Optional: {@link schemaRevision} answered synchronously, for a store that can read it
   * without I/O to wait for (in this process's memory, or a synchronous driver). The hub then
   * validates a publish whose schemas have not changed without a round through the event loop.
   * Must return what {@link schemaRevision} would resolve to at the moment of the call.
   *
   * @throws {HeraldError} as {@link schemaRevision}.
   */
  schemaRevisionNow?(): number
  /**
   * Optional, for stores whose appends enforce the revision: an append whose events carry a
   * `schemaRevision` (`AppendInput`) other than the backend's current one stores nothing and
   * fails with `HERALD_SCHEMA_CONFLICT` (409); the hub validates them again and retries. This
   * answers, without a round trip, the revision this instance last learned from the backend
   * (an append's answer, a refusal, a registration, {@link schemaRevision}), or `undefined`
   * before it learned any. The hub validates a publish against its cache while that cache is
   * of this revision, instead of asking {@link schemaRevision} first: a publish is one round
   * trip, and a version registered on any instance still applies to every publish that starts
   * after its registration was answered (that append runs after it, and is refused).
   */
  knownSchemaRevision?(): number | undefined
}

/**
 * The {@link HeraldError} a store throws when an append's events were validated against
 * another schema revision than the backend's (see {@link SchemaStore.knownSchemaRevision}).
 */
export function schemaRevisionConflict(validated: number, current: number): HeraldError {
  return new HeraldError(
    'HERALD_SCHEMA_CONFLICT',
    `the events were validated against schema revision ${validated}, the store is at ${current} (a schema was registered concurrently; validate again)`,
    { status: 409 },
  )
}

/** The {@link HeraldError} a store throws when a registration lost a race. */
export function schemaConflict(topic: string, previous: number, latest: number): HeraldError {
  return new HeraldError(
    'HERALD_SCHEMA_CONFLICT',
    `schema for ${JSON.stringify(topic)}: expected version ${previous} to be the latest, found ${latest} (registered concurrently; retry)`,
    { status: 409 },
  )
}

/** Sorts versions as {@link SchemaStore.listSchemas} returns them. */
export function sortSchemaVersions(versions: SchemaVersion[]): SchemaVersion[] {
  return versions.sort((a, b) =>
    a.topic === b.topic ? a.version - b.version : a.topic < b.topic ? -1 : 1,
  )
}

/** Options of {@link createMemorySchemaStore}. */
export interface MemorySchemaStoreOptions {
  /** Clock, for tests. Defaults to `Date.now`. */
  now?: (() => number) | undefined
  /** Throws `HERALD_STORE_CLOSED` when it returns `true` (the owning store closed). */
  closed?: (() => boolean) | undefined
}

/**
 * A {@link SchemaStore} in this process's memory: the memory event store's, and the hub's
 * fallback for a store without one. Lost when the process exits.
 */
export function createMemorySchemaStore(options: MemorySchemaStoreOptions = {}): SchemaStore {
  const now = options.now ?? Date.now
  const byTopic = new Map<string, SchemaVersion[]>()
  let revision = 0
  const check = (): void => {
    if (options.closed?.() === true) {
      throw new HeraldError('HERALD_STORE_CLOSED', 'the store is closed', { status: 503 })
    }
  }
  return {
    async registerSchema(registration, previous) {
      check()
      const versions = byTopic.get(registration.topic) ?? []
      if (versions.length !== previous) {
        throw schemaConflict(registration.topic, previous, versions.length)
      }
      const stored: SchemaVersion = {
        topic: registration.topic,
        schema: registration.schema,
        compatibility: registration.compatibility,
        version: previous + 1,
        registeredAt: now(),
      }
      versions.push(stored)
      byTopic.set(registration.topic, versions)
      revision++
      return stored
    },
    async listSchemas() {
      check()
      return sortSchemaVersions([...byTopic.values()].flat())
    },
    async schemaRevision() {
      check()
      return revision
    },
    schemaRevisionNow() {
      check()
      return revision
    },
  }
}
