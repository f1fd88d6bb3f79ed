/**
 * The hub's OpenTelemetry tracer, loaded once something has registered with the OpenTelemetry
 * API (an SDK's tracer provider, usually at process start). Until then the hub makes no spans:
 * without a registration every span would be a no-op anyway. The API is loaded with require():
 * its CommonJS build is the copy prom-client's process metrics load anyway, where an ES import
 * loaded a second copy (about a hundred modules, 0.7 MiB of RSS at start: docs/benchmarks.md,
 * 2026-12-06, third session).
 */
import { createRequire } from 'node:module'
import type { Tracer } from '@opentelemetry/api'

/** Where the API (major version 1) keeps what is registered with it, shared by all its copies. */
const REGISTRY = Symbol.for('opentelemetry.js.api.1')

/** `SpanStatusCode.ERROR`: the value, without loading the API for its enum. */
export const SPAN_STATUS_ERROR = 2

let api: typeof import('@opentelemetry/api') | undefined

/**
 * The hub's tracer, or `undefined` while nothing is registered with the OpenTelemetry API. The
 * API is loaded the first time a registration is seen. The tracer is asked for each time (the
 * registered provider keeps it): one kept from an earlier registration would not follow a
 * provider registered after `trace.disable()`.
 */
export function hubTracer(): Tracer | undefined {
  if (api === undefined) {
    if ((globalThis as Record<symbol, unknown>)[REGISTRY] === undefined) return undefined
    api = createRequire(import.meta.url)(
      '@opentelemetry/api',
    ) as typeof import('@opentelemetry/api')
  }
  return api.trace.getTracer('@herald/hub')
}
