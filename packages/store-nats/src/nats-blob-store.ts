/**
 * The NATS store's blobs: a JetStream Object Store bucket per namespace,
 * `herald-v1-{namespace}-blobs` (chunked, so a blob may exceed the server's `max_payload`;
 * the object appears to readers only once its last chunk and its metadata are written). The
 * blob's metadata and, once linked, its event's cursor travel in the object's `metadata`.
 * The bucket is bounded (`max_bytes`): past it a put fails with `HERALD_BLOB_STORE_FULL`.
 */
import { HeraldError } from '@herald/protocol'
import type { BlobInfo, BlobStore } from '@herald/store'
import { assertBlobInput, isBlobId, toBlobInfo } from '@herald/store'
import { type ObjectInfo, type ObjectStore, Objm, StorageType } from '@nats-io/obj'
import type { NatsConnection } from '@nats-io/transport-node'

/** Options of {@link createNatsBlobStore}. */
export interface NatsBlobStoreOptions {
  /** The store's connection, once ready. @throws {HeraldError} when NATS is down. */
  connection: () => Promise<NatsConnection>
  /** Bucket name. */
  bucket: string
  /** Largest blob, in bytes. Default 64 MiB. */
  maxBlobBytes?: number | undefined
  /** Bound on the bucket, in bytes. Default 1 GiB. */
  maxTotalBytes?: number | undefined
}

type Meta = Omit<BlobInfo, 'eventId'>

function unavailable(error: unknown): HeraldError {
  const message = (error as Error).message ?? String(error)
  if (/maximum bytes|insufficient resources/i.test(message)) {
    return new HeraldError('HERALD_BLOB_STORE_FULL', `NATS blob bucket full: ${message}`, {
      status: 507,
      cause: error,
    })
  }
  return new HeraldError('HERALD_STORE_UNAVAILABLE', `NATS blob bucket: ${message}`, {
    status: 503,
    cause: error,
  })
}

function infoOf(object: ObjectInfo): BlobInfo | undefined {
  const json = object.metadata?.herald
  if (json === undefined || object.deleted) return undefined
  const meta = JSON.parse(json) as Meta
  return { ...meta, after: meta.after, eventId: object.metadata?.l }
}

/** Creates a {@link BlobStore} in a JetStream Object Store bucket. */
export function createNatsBlobStore(options: NatsBlobStoreOptions): BlobStore {
  const maxBlobBytes = options.maxBlobBytes ?? 64 * 1024 * 1024
  const maxTotalBytes = options.maxTotalBytes ?? 1024 * 1024 * 1024
  let opened: { nc: NatsConnection; bucket: Promise<ObjectStore> } | undefined

  /** The bucket, created on first use (and again on a new connection). */
  async function bucket(): Promise<ObjectStore> {
    const nc = await options.connection()
    if (opened === undefined || opened.nc !== nc) {
      const pending = new Objm(nc).create(options.bucket, {
        storage: StorageType.File,
        max_bytes: maxTotalBytes,
      })
      opened = { nc, bucket: pending }
      pending.catch(() => {
        if (opened?.bucket === pending) opened = undefined
      })
    }
    try {
      return await opened.bucket
    } catch (error) {
      throw unavailable(error)
    }
  }

  async function call<T>(fn: (os: ObjectStore) => Promise<T>): Promise<T> {
    const os = await bucket()
    try {
      return await fn(os)
    } catch (error) {
      if (error instanceof HeraldError || error instanceof TypeError) throw error
      throw unavailable(error)
    }
  }

  return {
    maxBlobBytes,
    async put(input) {
      assertBlobInput(input, maxBlobBytes)
      const info = toBlobInfo(input)
      const { eventId: _, ...meta } = info
      return call(async (os) => {
        const existing = await os.info(input.id)
        if (existing !== null && !existing.deleted) {
          throw new TypeError(`blob ${input.id} is already stored`)
        }
        await os.putBlob(
          { name: input.id, metadata: { herald: JSON.stringify(meta) } },
          input.bytes,
        )
        return info
      })
    },
    link(id, eventId) {
      if (!isBlobId(id)) return Promise.resolve(false)
      return call(async (os) => {
        const object = await os.info(id)
        if (object === null || object.deleted) return false
        await os.update(id, { name: id, metadata: { ...object.metadata, l: eventId } })
        return true
      })
    },
    get(id) {
      if (!isBlobId(id)) return Promise.resolve(undefined)
      return call(async (os) => {
        const object = await os.info(id)
        const info = object === null ? undefined : infoOf(object)
        if (info === undefined) return undefined
        const bytes = await os.getBlob(id)
        return bytes === null ? undefined : { info, bytes }
      })
    },
    delete(id) {
      if (!isBlobId(id)) return Promise.resolve(false)
      return call(async (os) => {
        const object = await os.info(id)
        if (object === null || object.deleted) return false
        await os.delete(id)
        return true
      })
    },
    list(after, limit) {
      return call(async (os) => {
        const out: BlobInfo[] = []
        for (const object of await os.list()) {
          const info = infoOf(object)
          if (info !== undefined && (after === undefined || info.id > after)) out.push(info)
        }
        out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        return out.slice(0, limit)
      })
    },
  }
}
