/**
 * The NATS {@link SchemaStore}: a JetStream stream `herald-v1-<namespace>-schemas` with one
 * subject per topic pattern (`herald.schemas.v1.<namespace>.<sha1 of the pattern>`), one
 * message per version (JSON `{ t, v, s, c, a }`), never deleted. A registration publishes
 * with `expect.lastSubjectSequence` set to the sequence of the version it follows: JetStream
 * refuses it when another node registered in between (the compare-and-set). The revision is
 * the stream's last sequence (one message per version, none deleted).
 */
import { createHash } from 'node:crypto'
import { HeraldError } from '@herald/protocol'
import type { SchemaCompatibility, SchemaStore, SchemaVersion } from '@herald/store'
import { schemaConflict, sortSchemaVersions } from '@herald/store'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { StorageType } from '@nats-io/jetstream'

interface Wire {
  t: string
  v: number
  s: string
  c: SchemaCompatibility
  a: number
}

/** What the schema store needs from the event store. */
export interface NatsSchemaStoreDeps {
  namespace: string
  now: () => number
  assertOpen: () => void
  /** The connection, once the event store's streams exist. */
  ready: () => Promise<{ js: JetStreamClient; jsm: JetStreamManager }>
  /** Bounds a request by the store's command timeout. */
  bounded: <T>(what: string, work: Promise<T>) => Promise<T>
}

/** @internal Creates the schema store over the event store's connection. */
export function createNatsSchemaStore(deps: NatsSchemaStoreDeps): SchemaStore {
  const stream = `herald-v1-${deps.namespace}-schemas`
  const root = `herald.schemas.v1.${deps.namespace}`
  const subjectOf = (topic: string) => `${root}.${createHash('sha1').update(topic).digest('hex')}`
  const decoder = new TextDecoder()
  let ensured: Promise<void> | undefined

  const failed = (what: string, error: unknown): HeraldError =>
    error instanceof HeraldError
      ? error
      : new HeraldError(
          'HERALD_STORE_UNAVAILABLE',
          `NATS ${what} failed: ${(error as Error).message}`,
          {
            status: 503,
            cause: error,
          },
        )

  async function conn() {
    deps.assertOpen()
    const c = await deps.ready()
    ensured ??= (async () => {
      try {
        await c.jsm.streams.info(stream)
      } catch {
        // Two nodes may both create it: the second add fails, and the stream exists.
        await c.jsm.streams
          .add({
            name: stream,
            subjects: [`${root}.>`],
            allow_direct: true,
            storage: StorageType.File,
          })
          .catch(() => {})
        await c.jsm.streams.info(stream)
      }
    })()
    try {
      await deps.bounded('opening the schema stream', ensured)
    } catch (error) {
      ensured = undefined
      throw failed('opening the schema stream', error)
    }
    return c
  }

  return {
    async registerSchema(registration, previous) {
      const c = await conn()
      const subject = subjectOf(registration.topic)
      const registeredAt = deps.now()
      try {
        const last = await deps.bounded(
          'a schema read',
          c.jsm.direct.getMessage(stream, { last_by_subj: subject }),
        )
        const latest = last === null ? 0 : (JSON.parse(decoder.decode(last.data)) as Wire).v
        if (latest !== previous) throw schemaConflict(registration.topic, previous, latest)
        const wire: Wire = {
          t: registration.topic,
          v: previous + 1,
          s: registration.schema,
          c: registration.compatibility,
          a: registeredAt,
        }
        try {
          await deps.bounded(
            'a schema registration',
            c.js.publish(subject, JSON.stringify(wire), {
              expect: { lastSubjectSequence: last === null ? 0 : last.seq },
            }),
          )
        } catch (error) {
          if (/wrong last sequence/i.test((error as Error).message)) {
            throw schemaConflict(registration.topic, previous, previous + 1)
          }
          throw error
        }
      } catch (error) {
        throw failed('schema registration', error)
      }
      return { ...registration, version: previous + 1, registeredAt }
    },

    async listSchemas() {
      const c = await conn()
      try {
        const info = await deps.bounded('a schema read', c.jsm.streams.info(stream))
        const out: SchemaVersion[] = []
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
          const m = await deps.bounded('a schema read', c.jsm.direct.getMessage(stream, { seq }))
          if (m === null) continue
          const w = JSON.parse(decoder.decode(m.data)) as Wire
          out.push({ topic: w.t, version: w.v, schema: w.s, compatibility: w.c, registeredAt: w.a })
        }
        return sortSchemaVersions(out)
      } catch (error) {
        throw failed('schema read', error)
      }
    },

    async schemaRevision() {
      const c = await conn()
      try {
        return (await deps.bounded('a schema read', c.jsm.streams.info(stream))).state.last_seq
      } catch (error) {
        throw failed('schema read', error)
      }
    },
  }
}
