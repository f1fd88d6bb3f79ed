export { createStreamServer } from './create-stream-server.js'
export { createCommentFrame, createFrame, createRetryFrame, joinFrames } from './frame.js'
export { MAX_LAST_EVENT_ID_LENGTH } from './last-event-id.js'
export { acceptsEventStream, pickEncoding } from './negotiate.js'
export type {
  CloseReason,
  CompressionOptions,
  CorsOptions,
  DrainOptions,
  FetchHandleInit,
  FetchHandleResult,
  Frame,
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
  StreamServer,
  StreamServerOptions,
} from './types.js'
