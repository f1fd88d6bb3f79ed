/**
 * `POST /schemas` registers the next version of a topic pattern's JSON Schema (admin grant
 * when the hub is gated); `GET /schemas` lists every pattern with its versions, and
 * `GET /schemas?topic=T` answers the version that applies to the concrete topic `T`.
 */
import { isHeraldError } from '@herald/protocol'
import type { SchemaVersion } from '@herald/store'
import type { HubContext } from '../context.js'
import type { HubRequest } from '../http-io.js'
import { decodeUtf8, fail, json } from '../http-io.js'
import type { RouteFactory } from './route.js'

/** A version as the HTTP API shows it: the schema as JSON, not as text. */
function view(version: SchemaVersion) {
  return {
    topic: version.topic,
    version: version.version,
    compatibility: version.compatibility,
    registeredAt: new Date(version.registeredAt).toISOString(),
    schema: JSON.parse(version.schema) as unknown,
  }
}

/**
 * Reading schemas with auth on needs a valid token (any JWT the hub accepts, or the admin
 * token); without auth anyone may read them, as anyone may publish.
 */
async function assertReader(ctx: HubContext, req: HubRequest): Promise<void> {
  if (!ctx.auth.enabled) return
  const source = { header: (name: string) => req.header(name), url: req.url }
  try {
    if ((await ctx.admin.check(source)) === 'admin') return
  } catch (error) {
    // A valid JWT without the admin grant may read.
    if (isHeraldError(error, 'HERALD_FORBIDDEN')) return
    throw error
  }
  throw fail('HERALD_UNAUTHORIZED', 401, 'a token is required to read schemas')
}

/** `/schemas`. */
export const schemaRoutes: RouteFactory = (ctx) => ({
  routes: [
    {
      path: '/schemas',
      methods: {
        GET: async (req) => {
          await assertReader(ctx, req)
          const topic = req.url.searchParams.get('topic')
          if (topic === null) {
            const all = await ctx.schemas.list()
            return json(200, {
              schemas: all.map((h) => ({ topic: h.topic, versions: h.versions.map(view) })),
            })
          }
          const found = await ctx.schemas.lookup(topic)
          if (found === undefined) {
            throw fail(
              'HERALD_NOT_FOUND',
              404,
              `no schema applies to topic ${JSON.stringify(topic)}`,
            )
          }
          return json(200, view(found))
        },
        POST: async (req) => {
          await ctx.admin.require({ header: (name) => req.header(name), url: req.url })
          const type = (req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase()
          if (type !== 'application/json') {
            throw fail(
              'HERALD_UNSUPPORTED_MEDIA_TYPE',
              415,
              'register a schema with Content-Type application/json',
            )
          }
          const text = decodeUtf8(await req.body(ctx.maxBodyBytes, ctx.bodyTimeoutMs))
          let body: unknown
          try {
            body = JSON.parse(text)
          } catch (error) {
            throw fail(
              'HERALD_INVALID_JSON',
              400,
              `the body is not JSON: ${(error as Error).message}`,
            )
          }
          if (body === null || typeof body !== 'object' || Array.isArray(body)) {
            throw fail(
              'HERALD_SCHEMA_INVALID',
              400,
              'the body must be { "topic", "schema", "compatibility"? }',
            )
          }
          const { topic, schema, compatibility } = body as Record<string, unknown>
          if (schema === undefined) {
            throw fail('HERALD_SCHEMA_INVALID', 400, 'the body has no "schema"')
          }
          const registered = await ctx.schemas.register(topic, schema, compatibility ?? 'backward')
          if (registered.created) {
            ctx.logger.info(
              { topic: registered.topic, version: registered.version },
              'schema registered',
            )
          }
          return json(registered.created ? 201 : 200, {
            topic: registered.topic,
            version: registered.version,
          })
        },
      },
      preflight: { methods: 'GET, POST, OPTIONS', headers: 'Authorization, Content-Type' },
    },
  ],
})
