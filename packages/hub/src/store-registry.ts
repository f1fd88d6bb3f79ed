/**
 * Backends chosen by URL: `memory`, `sqlite:PATH`, `redis://...` (`rediss://`),
 * `nats://...`. One registry maps a spec to the package that implements it; store packages
 * are loaded by dynamic import of their name, so a backend is available exactly when its
 * package is installed (`npm install @herald/store-redis`), and the hub depends on none.
 */
import { HeraldError } from '@herald/protocol'
import type { EventStore, RetentionOptions } from '@herald/store'
import { createMemoryEventStore } from './memory-store.js'

/** What every backend gets besides its URL. */
export interface OpenStoreOptions {
  /** Retention (each backend applies its defaults to what is left out). */
  retention?: RetentionOptions | undefined
  /** Connection errors of network backends, for logs (they reconnect by themselves). */
  onError?: ((error: Error) => void) | undefined
}

/** One backend of the registry. */
export interface StoreBackend {
  /** Label in messages (`redis`). */
  readonly name: string
  /** `true` when `spec` names this backend. */
  matches(spec: string): boolean
  /** The npm package implementing it, loaded on demand; absent for built-in backends. */
  readonly package?: string | undefined
  /**
   * Opens the store. `module` is the loaded package (`undefined` for built-ins).
   *
   * @throws {HeraldError} `HERALD_INVALID_CONFIG` for a malformed spec.
   */
  open(spec: string, options: OpenStoreOptions, module: unknown): EventStore | Promise<EventStore>
}

type Factory = (options: Record<string, unknown>) => EventStore

function factory(module: unknown, name: string): Factory {
  const fn = (module as Record<string, unknown> | undefined)?.[name]
  if (typeof fn !== 'function') {
    throw new HeraldError(
      'HERALD_UNSUPPORTED_STORE',
      `the installed store package has no ${name}()`,
    )
  }
  return fn as Factory
}

/** `redis://host:6379/?namespace=app` -> the URL without `namespace`, and the namespace. */
function splitNamespace(spec: string): { url: string; namespace?: string } {
  let url: URL
  try {
    url = new URL(spec)
  } catch {
    throw new HeraldError('HERALD_INVALID_CONFIG', `--store ${spec}: not a URL`)
  }
  const namespace = url.searchParams.get('namespace')
  if (namespace === null) return { url: spec }
  url.searchParams.delete('namespace')
  return { url: url.toString(), namespace }
}

/** The built-in registry, in the order specs are tried. */
export const STORE_BACKENDS: readonly StoreBackend[] = [
  {
    name: 'memory',
    matches: (spec) => spec === 'memory',
    open: (_spec, options) => createMemoryEventStore({ retention: options.retention }),
  },
  {
    name: 'sqlite',
    package: '@herald/store-sqlite',
    matches: (spec) => spec.startsWith('sqlite:'),
    open(spec, options, module) {
      const path = spec.slice('sqlite:'.length)
      if (path === '') {
        throw new HeraldError(
          'HERALD_INVALID_CONFIG',
          '--store sqlite: needs a path, e.g. sqlite:./herald-data/herald.db',
        )
      }
      return factory(module, 'createSqliteEventStore')({ path, retention: options.retention })
    },
  },
  {
    name: 'redis',
    package: '@herald/store-redis',
    matches: (spec) => /^rediss?:\/\//.test(spec),
    open(spec, options, module) {
      return factory(
        module,
        'createRedisEventStore',
      )({
        ...splitNamespace(spec),
        retention: options.retention,
        onError: options.onError,
      })
    },
  },
  {
    name: 'nats',
    package: '@herald/store-nats',
    matches: (spec) => /^(nats|tls):\/\//.test(spec),
    open(spec, options, module) {
      return factory(
        module,
        'createNatsEventStore',
      )({
        ...splitNamespace(spec),
        retention: options.retention,
        onError: options.onError,
      })
    },
  },
]

function isModuleNotFound(error: unknown, name: string): boolean {
  const e = error as { code?: string; message?: string }
  return (
    (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') &&
    (e.message ?? '').includes(name)
  )
}

/**
 * Opens the store named by `spec` (`memory`, `sqlite:PATH`, `redis://...`, `nats://...`).
 *
 * @throws {HeraldError} `HERALD_UNSUPPORTED_STORE` for an unknown scheme or a backend whose
 * package is not installed; `HERALD_INVALID_CONFIG` for a malformed spec; what the backend
 * throws when it cannot open (`HERALD_STORE_UNAVAILABLE`, `HERALD_STORE_SCHEMA_MISMATCH`).
 */
export async function openStore(
  spec: string,
  options: OpenStoreOptions = {},
  backends: readonly StoreBackend[] = STORE_BACKENDS,
): Promise<EventStore> {
  const backend = backends.find((b) => b.matches(spec))
  if (backend === undefined) {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(spec)?.[0] ?? spec
    throw new HeraldError(
      'HERALD_UNSUPPORTED_STORE',
      `--store ${scheme}...: unknown backend; expected ${backends.map((b) => examples[b.name] ?? b.name).join(', ')}`,
    )
  }
  let module: unknown
  if (backend.package !== undefined) {
    try {
      module = await import(backend.package)
    } catch (error) {
      if (!isModuleNotFound(error, backend.package)) throw error
      throw new HeraldError(
        'HERALD_UNSUPPORTED_STORE',
        `--store ${backend.name}: the ${backend.package} package is not installed (npm install ${backend.package})`,
        { cause: error },
      )
    }
  }
  return backend.open(spec, options, module)
}

const examples: Record<string, string> = {
  memory: 'memory',
  sqlite: 'sqlite:PATH',
  redis: 'redis://HOST:PORT',
  nats: 'nats://HOST:PORT',
}
