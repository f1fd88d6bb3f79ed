export type { ExpressContext, ExpressLikeRequest } from './adapters/express.js'
export { createExpressHandler } from './adapters/express.js'
export type {
  FastifyContext,
  FastifyLikeReply,
  FastifyLikeRequest,
} from './adapters/fastify.js'
export { createFastifyHandler } from './adapters/fastify.js'
export type { FetchContext, HonoLikeContext } from './adapters/fetch.js'
export { createFetchHandler, createHonoHandler } from './adapters/fetch.js'
export type { KoaLikeContext } from './adapters/koa.js'
export { createKoaMiddleware } from './adapters/koa.js'
export type { SessionHandler } from './adapters/run-handler.js'
export type { CorsPolicy } from './cors.js'
export { createCorsPolicy } from './cors.js'
export { createStreamServer } from './create-stream-server.js'
export { createCommentFrame, createFrame, createRetryFrame, joinFrames } from './frame.js'
export { MAX_LAST_EVENT_ID_LENGTH } from './last-event-id.js'
export { acceptsEventStream, pickEncoding } from './negotiate.js'
export type {
  CloseReason,
  CompressionOptions,
  ConnectionHandlerOptions,
  CorsOptions,
  DrainOptions,
  FetchHandleInit,
  FetchHandleResult,
  Frame,
  GuardableServer,
  Http2StreamHeaders,
  Logger,
  MetricLabels,
  NodeHandleInit,
  NodeRequest,
  NodeResponse,
  RequestHeaders,
  ServerCounterName,
  ServerHistogramName,
  ServerMetrics,
  Session,
  SessionInfo,
  StreamRefusal,
  StreamRequest,
  StreamServer,
  StreamServerOptions,
} from './types.js'
