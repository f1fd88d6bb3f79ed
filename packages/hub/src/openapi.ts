/**
 * The hub's HTTP API as an OpenAPI 3.1 document, served at `GET /openapi.json`. A test
 * checks it against the router (every endpoint documented) and against real answers (each
 * status documented, each JSON body valid against its schema).
 */
import { heraldErrorCodes } from '@herald/protocol'

const json = (schema: object) => ({ 'application/json': { schema } })
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const error = (description: string) => ({ description, content: json(ref('Error')) })
const errors = (statuses: Record<string, string>) =>
  Object.fromEntries(Object.entries(statuses).map(([status, what]) => [status, error(what)]))

const streamErrors = errors({
  '400': 'Invalid topic or cursor (`HERALD_INVALID_TOPIC`, `HERALD_INVALID_LAST_EVENT_ID`).',
  '401': 'A token is required or invalid (`HERALD_UNAUTHORIZED`).',
  '403': 'The token does not grant a requested topic (`HERALD_FORBIDDEN`).',
  '406': 'The request does not accept `text/event-stream` (`HERALD_NOT_ACCEPTABLE`).',
  '429':
    'Too many open streams from this address, or too many resumes (`HERALD_TOO_MANY_CONNECTIONS_PER_IP`, `HERALD_REPLAY_RATE_LIMITED`), with `Retry-After`.',
  '503': 'Draining or at the connection cap (`HERALD_DRAINING`, `HERALD_TOO_MANY_CONNECTIONS`).',
})

const publishErrors = errors({
  '400':
    'Invalid body, topic, event or schema violation (`HERALD_INVALID_PUBLISH`, `HERALD_INVALID_JSON`, `HERALD_INVALID_TOPIC`, `HERALD_PUBLISH_SCHEMA`, `HERALD_SCHEMA_VIOLATION` with `error.details.pointer` and `rule`, ...).',
  '401': 'A publish token is required or invalid (`HERALD_UNAUTHORIZED`).',
  '403':
    'The token does not grant the topic, or a cookie publish came from another origin (`HERALD_FORBIDDEN`, `HERALD_ORIGIN_NOT_ALLOWED`).',
  '408': 'The body did not arrive in time (`HERALD_REQUEST_TIMEOUT`).',
  '409': 'An update id the log already holds (`HERALD_DUPLICATE_EVENT_ID`, stores that index ids).',
  '422': 'The `Idempotency-Key` was used with another body (`HERALD_IDEMPOTENCY_KEY_REUSED`).',
  '413': 'Body or event data too large (`HERALD_PAYLOAD_TOO_LARGE`).',
  '415':
    'Not JSON (nor a form, on the Mercure path), and no `?topic=` for a binary body (`HERALD_UNSUPPORTED_MEDIA_TYPE`).',
  '429': 'Publish rate limit; see `Retry-After` (`HERALD_PUBLISH_RATE_LIMITED`).',
  '507': 'A bounded blob store is full (`HERALD_BLOB_STORE_FULL`).',
  '503':
    'The store is unavailable (`HERALD_STORE_UNAVAILABLE`), or delivery on this node lags past `maxDeliveryLagMs` (`HERALD_DELIVERY_LAGGING`, with `Retry-After`); nothing was stored.',
})

const adminErrors = errors({
  '401':
    'The admin grant is required (`HERALD_UNAUTHORIZED`): the admin token, or a JWT with `herald.admin`.',
  '403': 'A valid JWT without `herald.admin` (`HERALD_FORBIDDEN`).',
})

const topicParameter = {
  name: 'topic',
  in: 'query',
  required: true,
  description:
    'Topic or pattern (`orders/*` one segment, `orders/**` any depth); repeat for several.',
  schema: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
  style: 'form',
  explode: true,
}
const cursorParameters = [
  {
    name: 'Last-Event-ID',
    in: 'header',
    description:
      'Resume after this event id (replay, then live). `earliest`: everything the log holds.',
    schema: { type: 'string', maxLength: 1024 },
  },
  {
    name: 'lastEventId',
    in: 'query',
    description: 'Same as the `Last-Event-ID` header (which wins).',
    schema: { type: 'string', maxLength: 1024 },
  },
]
const eventStream = {
  description:
    'The event stream (`text/event-stream`). A cursor older than retention first gets `event: herald.reset` whose data says what was lost.',
  content: { 'text/event-stream': { schema: { type: 'string' } } },
}

/** The OpenAPI 3.1 document of the hub's HTTP API. */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Herald hub',
    version: '0.1.0',
    description:
      'Server-Sent Events pub/sub: publish with one HTTP POST, subscribe with an EventSource, resume exactly with Last-Event-ID. Errors are `{ "error": { "code": "HERALD_*", "message": "..." } }`; a wrong method answers 405 `HERALD_METHOD_NOT_ALLOWED` with `Allow`, an unknown path 404 `HERALD_NOT_FOUND`.',
    license: { name: 'MIT', identifier: 'MIT' },
  },
  security: [{}, { bearer: [] }, { cookie: [] }],
  paths: {
    '/events': {
      get: {
        operationId: 'subscribe',
        summary: 'Subscribe to topics (SSE)',
        parameters: [topicParameter, ...cursorParameters],
        responses: { '200': eventStream, ...streamErrors },
      },
    },
    '/publish': {
      post: {
        operationId: 'publish',
        summary: 'Publish one event or an atomic batch',
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            description:
              'Retry-safe publish: the same key and body within the window answers the first result again (`Idempotent-Replayed: true`).',
            schema: { type: 'string', minLength: 1, maxLength: 255 },
          },
          {
            name: 'topic',
            in: 'query',
            description:
              "Binary publish only (a body that is not JSON nor a form): the concrete topic of the blob's event.",
            schema: { type: 'string', minLength: 1 },
          },
          {
            name: 'private',
            in: 'query',
            description: 'Binary publish only: a private event (and blob).',
            schema: { type: 'string', enum: ['true', 'false'] },
          },
        ],
        requestBody: {
          required: true,
          content: {
            ...json({
              oneOf: [
                ref('PublishEvent'),
                { type: 'array', items: ref('PublishEvent'), minItems: 1 },
              ],
            }),
            '*/*': {
              schema: {
                type: 'string',
                contentMediaType: 'application/octet-stream',
                description:
                  'A binary publish (with `?topic=`): the bytes become a blob, and the event\'s data is `{ "blob", "contentType", "size", "sha256" }`. At most `--max-blob` bytes.',
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'Stored: the ids the hub assigned, in order.',
            content: json({ oneOf: [ref('PublishedOne'), ref('PublishedBatch')] }),
          },
          ...publishErrors,
        },
      },
    },
    '/schemas': {
      get: {
        operationId: 'schemas',
        summary:
          'Every registered topic pattern with its versions; with `topic`, the schema that applies to that concrete topic (most specific pattern, latest version)',
        parameters: [
          {
            name: 'topic',
            in: 'query',
            description:
              'A concrete topic: answer the one version that applies to it (a concrete pattern beats any wildcard, then more literal segments, `*` over `**`, more segments, then code point order).',
            schema: { type: 'string', minLength: 1 },
          },
        ],
        responses: {
          '200': {
            description: 'The list (no `topic`), or the version that applies to `topic`.',
            content: json({ oneOf: [ref('SchemaList'), ref('SchemaVersion')] }),
          },
          ...errors({
            '400': 'Invalid topic, or a pattern (`HERALD_INVALID_TOPIC`).',
            '401': 'Auth is on and no valid token was sent (`HERALD_UNAUTHORIZED`).',
            '404': 'No registered pattern matches the topic (`HERALD_NOT_FOUND`).',
            '503': 'The store is unavailable (`HERALD_STORE_UNAVAILABLE`).',
          }),
        },
      },
      post: {
        operationId: 'registerSchema',
        summary: "Register the next version of a topic pattern's JSON Schema (admin)",
        requestBody: {
          required: true,
          content: json(ref('SchemaRegistration')),
        },
        responses: {
          '200': {
            description: 'The schema equals the latest version: nothing stored, its version.',
            content: json(ref('SchemaRegistered')),
          },
          '201': {
            description: 'Registered as the next version.',
            content: json(ref('SchemaRegistered')),
          },
          ...errors({
            '400':
              'Not a valid JSON Schema or compatibility (`HERALD_SCHEMA_INVALID`), a bad pattern (`HERALD_INVALID_TOPIC`), a body that is not JSON (`HERALD_INVALID_JSON`).',
            '409':
              'Breaks the chosen compatibility with the previous version (`HERALD_SCHEMA_INCOMPATIBLE`, `error.details.changes` names each change), or lost a race a few times over (`HERALD_SCHEMA_CONFLICT`).',
            '408': 'The body did not arrive in time (`HERALD_REQUEST_TIMEOUT`).',
            '413': 'Body too large (`HERALD_PAYLOAD_TOO_LARGE`).',
            '415': 'Not `application/json` (`HERALD_UNSUPPORTED_MEDIA_TYPE`).',
            '503': 'The store is unavailable (`HERALD_STORE_UNAVAILABLE`).',
          }),
          ...adminErrors,
        },
      },
    },
    '/.well-known/mercure': {
      get: {
        operationId: 'mercureSubscribe',
        summary: 'Subscribe, Mercure-compatible (`lastEventID` alias accepted)',
        parameters: [
          topicParameter,
          ...cursorParameters,
          { name: 'lastEventID', in: 'query', schema: { type: 'string', maxLength: 1024 } },
        ],
        responses: { '200': eventStream, ...streamErrors },
      },
      post: {
        operationId: 'mercurePublish',
        summary: 'Publish a Mercure form update',
        requestBody: {
          required: true,
          content: {
            'application/x-www-form-urlencoded': {
              schema: {
                type: 'object',
                required: ['topic'],
                properties: {
                  topic: { type: 'string' },
                  data: { type: 'string' },
                  id: { type: 'string' },
                  type: { type: 'string' },
                  retry: { type: 'string' },
                  private: {
                    type: 'string',
                    description:
                      'Present with any value (even empty, `false` or `0`): private, as the Mercure spec requires.',
                  },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'The assigned id, as plain text.',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          ...publishErrors,
        },
      },
    },
    ...Object.fromEntries(
      [
        ['/.well-known/mercure/subscriptions', 'Every active subscription'],
        [
          '/.well-known/mercure/subscriptions/{topic}',
          'The active subscriptions to one topic selector',
        ],
        ['/.well-known/mercure/subscriptions/{topic}/{subscriber}', 'One active subscription'],
      ].map(([path, summary]) => [
        path,
        {
          get: {
            operationId: `mercureSubscriptions${(path as string).split('{').length - 1}`,
            summary: `${summary} (Mercure; with herald serve --mercure-subscriptions)`,
            parameters: [...(path as string).matchAll(/\{(\w+)\}/g)].map((m) => ({
              name: m[1],
              in: 'path',
              required: true,
              description: 'URL-encoded.',
              schema: { type: 'string' },
            })),
            responses: {
              '200': {
                description: 'JSON-LD (`@context` https://mercure.rocks/), with `lastEventID`.',
                content: {
                  'application/ld+json': {
                    schema: {
                      type: 'object',
                      required: ['@context', 'lastEventID'],
                      properties: {
                        '@context': { type: 'string' },
                        lastEventID: { type: 'string' },
                      },
                    },
                  },
                },
              },
              ...errors({
                '400': 'Malformed percent-encoding (`HERALD_INVALID_REQUEST`).',
                '401': 'A token with a subscribe claim is required (`HERALD_UNAUTHORIZED`).',
                '403': 'The token does not grant subscribing to this path (`HERALD_FORBIDDEN`).',
                '404': 'Off on this hub, or no such subscription (`HERALD_NOT_FOUND`).',
              }),
            },
          },
        },
      ]),
    ),
    '/blobs/{id}': {
      get: {
        operationId: 'getBlob',
        summary: 'The bytes of a binary publish (while its event is in the log)',
        parameters: [
          {
            name: 'id',
            in: 'path',
            required: true,
            schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
          },
          {
            name: 'Range',
            in: 'header',
            description: 'One byte range (`bytes=0-99`, `bytes=-100`, `bytes=100-`).',
            schema: { type: 'string' },
          },
          {
            name: 'If-None-Match',
            in: 'header',
            description: 'The `ETag` of a cached copy: 304 when it is this blob.',
            schema: { type: 'string' },
          },
          {
            name: 'If-Range',
            in: 'header',
            description: 'Apply `Range` only if this is still the `ETag`.',
            schema: { type: 'string' },
          },
        ],
        responses: {
          '200': {
            description:
              "The blob, with its publisher's `Content-Type`, a strong `ETag` (its SHA-256), `Cache-Control: immutable` (`private` when auth is on), and `Content-Encoding: br` or `gzip` for compressible types when accepted.",
            content: {
              '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
            },
          },
          '206': {
            description: 'The requested byte range, with `Content-Range` (never compressed).',
            content: {
              '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
            },
          },
          '304': { description: '`If-None-Match` names this blob: use the cached copy.' },
          ...errors({
            '401': 'A token is required (`HERALD_UNAUTHORIZED`).',
            '403': "The token does not grant the blob's topic (`HERALD_FORBIDDEN`).",
            '404': 'No such blob, or its event is not in the log (`HERALD_BLOB_NOT_FOUND`).',
            '416':
              'The range is outside the blob (`HERALD_RANGE_NOT_SATISFIABLE`), with `Content-Range: bytes */SIZE`.',
          }),
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'health',
        summary: 'Liveness: the process answers',
        responses: { '200': { description: 'Alive.', content: json(ref('Status')) } },
      },
    },
    '/readyz': {
      get: {
        operationId: 'ready',
        summary: 'Readiness: not draining, the store answers',
        responses: {
          '200': { description: 'Ready.', content: json(ref('Status')) },
          ...errors({
            '503':
              'Draining or the store is unreachable (`HERALD_DRAINING`, `HERALD_STORE_UNAVAILABLE`).',
          }),
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics (admin grant needed when auth is on or an admin token is set)',
        responses: {
          '200': {
            description: 'Prometheus text exposition format.',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          ...adminErrors,
        },
      },
    },
    '/': {
      get: {
        operationId: 'index',
        summary: 'The endpoint index (JSON), or the dashboard page for browsers',
        responses: {
          '200': {
            description: 'JSON for scripts; `text/html` (the dashboard) for `Accept: text/html`.',
            content: { ...json(ref('Index')), 'text/html': { schema: { type: 'string' } } },
          },
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        responses: { '200': { description: 'OpenAPI 3.1.', content: json({ type: 'object' }) } },
      },
    },
    '/dashboard/api/session': {
      get: {
        operationId: 'dashboardSession',
        summary: 'Whether the admin views are gated, and whether the caller is an admin',
        responses: {
          '200': { description: 'Access.', content: json(ref('DashboardSession')) },
          ...errors({
            '401': 'A token that is neither the admin token nor a valid JWT.',
            '403': 'A valid JWT without `herald.admin`.',
          }),
        },
      },
    },
    '/dashboard/api/stats': {
      get: {
        operationId: 'dashboardStats',
        summary: 'The stats stream (SSE): `snapshot` (history), then `sample` once a second',
        description:
          'Without the admin grant: aggregate numbers only (no topic names, addresses or node names).',
        responses: {
          '200': {
            description: '`event: snapshot` then `event: sample`, JSON data.',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errors({ '401': 'An invalid token.', '403': 'A valid JWT without `herald.admin`.' }),
        },
      },
    },
    '/dashboard/api/clients': {
      get: {
        operationId: 'dashboardClients',
        summary:
          'Connected subscribers of this node (of every worker with --workers), searched and paged on the hub',
        parameters: [
          {
            name: 'q',
            in: 'query',
            description: 'Substring of address, topic, session id or subject.',
            schema: { type: 'string' },
          },
          { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0 } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } },
        ],
        responses: {
          '200': { description: 'One page.', content: json(ref('ClientsPage')) },
          ...errors({ '400': 'Invalid `offset` or `limit` (`HERALD_INVALID_REQUEST`).' }),
          ...adminErrors,
        },
      },
    },
    '/dashboard/api/publish': {
      post: {
        operationId: 'dashboardPublish',
        summary: 'Publish from the playground (admin: any topic)',
        requestBody: {
          required: true,
          content: json({
            oneOf: [
              ref('PublishEvent'),
              { type: 'array', items: ref('PublishEvent'), minItems: 1 },
            ],
          }),
        },
        responses: {
          '200': { description: 'Stored.', content: json(ref('PublishedOne')) },
          ...publishErrors,
          ...adminErrors,
        },
      },
    },
    '/dashboard/api/tail': {
      get: {
        operationId: 'dashboardTail',
        summary: 'Live tail of a topic pattern (SSE), private events included, at most 50/s',
        parameters: [{ ...topicParameter, schema: { type: 'string', minLength: 1 } }],
        responses: {
          '200': {
            description: '`event: event` (JSON `TailEvent`) and `event: dropped` (`{ count }`).',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errors({ '400': 'Invalid pattern (`HERALD_INVALID_TOPIC`).' }),
          ...adminErrors,
        },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description:
          'A JWT (HS/RS/PS/ES/EdDSA) with `herald.publish` / `herald.subscribe` patterns (or a Mercure `mercure` claim), `herald.admin` for the admin views; or the `--admin-token`.',
      },
      cookie: { type: 'apiKey', in: 'cookie', name: 'heraldAuthorization' },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string', enum: [...heraldErrorCodes] },
              message: { type: 'string' },
              details: {
                type: 'object',
                description:
                  'Structured details, on some codes: `HERALD_SCHEMA_VIOLATION` (`index`, `topic`, `schema`, `pointer`, `rule`, `schemaPath`, `message`) and `HERALD_SCHEMA_INCOMPATIBLE` (`topic`, `version`, `compatibility`, `changes`).',
              },
            },
          },
        },
      },
      SchemaRegistration: {
        type: 'object',
        required: ['topic', 'schema'],
        properties: {
          topic: { type: 'string', minLength: 1, description: 'Topic pattern (`orders/*`).' },
          schema: {
            type: ['object', 'boolean'],
            description: 'A JSON Schema (draft-07; 2020-12 when its `$schema` says so).',
          },
          compatibility: {
            type: 'string',
            enum: ['backward', 'forward', 'full', 'none'],
            default: 'backward',
          },
        },
      },
      SchemaRegistered: {
        type: 'object',
        required: ['topic', 'version'],
        additionalProperties: false,
        properties: {
          topic: { type: 'string' },
          version: { type: 'integer', minimum: 1 },
        },
      },
      SchemaVersion: {
        type: 'object',
        required: ['topic', 'version', 'compatibility', 'registeredAt', 'schema'],
        additionalProperties: false,
        properties: {
          topic: { type: 'string', description: 'The topic pattern.' },
          version: { type: 'integer', minimum: 1 },
          compatibility: { type: 'string', enum: ['backward', 'forward', 'full', 'none'] },
          registeredAt: { type: 'string', description: 'ISO 8601 (UTC).' },
          schema: { type: ['object', 'boolean'] },
        },
      },
      SchemaList: {
        type: 'object',
        required: ['schemas'],
        additionalProperties: false,
        properties: {
          schemas: {
            type: 'array',
            items: {
              type: 'object',
              required: ['topic', 'versions'],
              properties: {
                topic: { type: 'string' },
                versions: { type: 'array', items: ref('SchemaVersion') },
              },
            },
          },
        },
      },
      PublishEvent: {
        type: 'object',
        required: ['topic', 'data'],
        additionalProperties: false,
        properties: {
          topic: { type: 'string', minLength: 1, description: 'A concrete topic (no wildcard).' },
          data: { description: 'A string as is; any other JSON value is serialised.' },
          event: { type: 'string', description: 'Event type (`event:`); default `message`.' },
          type: { type: 'string', description: 'Alias of `event` (Mercure).' },
          id: { type: 'string', description: "The publisher's own id, kept as metadata." },
          retry: { type: 'integer', minimum: 0, description: '`retry:` hint, in ms.' },
          private: {
            type: 'boolean',
            description: 'Only subscribers whose token grants the topic.',
          },
        },
      },
      PublishedOne: {
        type: 'object',
        description: 'One event published: its id (and the one-element `ids`).',
        additionalProperties: false,
        required: ['id', 'ids'],
        properties: { id: { type: 'string' }, ids: { type: 'array', items: { type: 'string' } } },
      },
      PublishedBatch: {
        type: 'object',
        description: 'A batch published: the ids in order.',
        additionalProperties: false,
        required: ['ids'],
        properties: { ids: { type: 'array', items: { type: 'string' } } },
      },
      Status: {
        type: 'object',
        required: ['status'],
        properties: { status: { type: 'string', enum: ['ok', 'ready'] } },
      },
      Index: {
        type: 'object',
        required: ['name', 'endpoints'],
        properties: {
          name: { const: 'herald' },
          endpoints: { type: 'array', items: { type: 'string', pattern: '^[A-Z]+ /' } },
        },
      },
      DashboardSession: {
        type: 'object',
        required: ['gated', 'admin'],
        properties: { gated: { type: 'boolean' }, admin: { type: 'boolean' } },
      },
      ClientsPage: {
        type: 'object',
        required: ['total', 'matched', 'offset', 'limit', 'clients'],
        properties: {
          total: { type: 'integer', minimum: 0 },
          matched: { type: 'integer', minimum: 0 },
          offset: { type: 'integer', minimum: 0 },
          limit: { type: 'integer', minimum: 1 },
          clients: {
            type: 'array',
            items: {
              type: 'object',
              required: ['id', 'ip', 'topics', 'since', 'queuedBytes', 'lastEventId', 'subject'],
              properties: {
                id: { type: 'string' },
                ip: { type: 'string' },
                topics: { type: 'array', items: { type: 'string' } },
                since: { type: 'integer', description: 'Connected at, ms since the epoch.' },
                queuedBytes: { type: 'integer', minimum: 0 },
                lastEventId: { type: ['string', 'null'] },
                subject: { type: ['string', 'null'] },
                node: { type: 'string', description: 'The worker it is on (--workers).' },
              },
            },
          },
          nodes: {
            type: 'array',
            description: 'With --workers: each worker, in page order.',
            items: {
              type: 'object',
              required: ['node', 'total', 'matched'],
              properties: {
                node: { type: 'string' },
                total: { type: 'integer', minimum: 0 },
                matched: { type: 'integer', minimum: 0 },
              },
            },
          },
        },
      },
    },
  },
} as const
