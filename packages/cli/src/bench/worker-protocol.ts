/**
 * Messages between `herald bench` and its subscriber processes (node IPC, JSON).
 */

/** Parent to worker: open the subscribers. */
export interface StartMessage {
  type: 'start'
  host: string
  port: number
  path: string
  count: number
  /** Source addresses to spread the sockets over (empty: the default). */
  sources: string[]
  extraHeaders: string
  reconnectDelayMs: number
  /** Connection attempts in flight at once while opening. */
  connectConcurrency: number
  /** The topic conflates on the hub: skips are counted as conflated, not lost. */
  conflated?: boolean
}

/** Parent to worker: latency and deliveries count from this sequence number on (warm-up over). */
export interface MeasureMessage {
  type: 'measure'
  fromSeq: number
}

/** Parent to worker: publishing is over; report and exit. */
export interface FinishMessage {
  type: 'finish'
  published: number
  notPublished: number[]
}

export type ParentMessage = StartMessage | MeasureMessage | FinishMessage

/** Worker to parent: every subscriber's first attempt has resolved. */
export interface ReadyMessage {
  type: 'ready'
  connected: number
  failed: number
  firstError: string | undefined
}

/** Worker to parent, once a second. */
export interface TickMessage {
  type: 'tick'
  /** Benchmark deliveries since the previous tick. */
  deliveries: number
  /** Open streams now. */
  connected: number
  /** Lowest "highest sequence seen" over the subscribers (drain detection). */
  minSeq: number
  /** This tick's latency histogram. */
  latency: string
  reconnects: number
}

/** Worker to parent: the final counts. */
export interface ResultMessage {
  type: 'result'
  subscribers: number
  received: number
  lost: number
  duplicated: number
  outOfOrder: number
  /** Events skipped because the hub conflated them (`conflated` runs only). */
  conflated: number
  /** Subscribers that lost at least one event. */
  lossySubscribers: number
  /** Measured deliveries (sequence >= the measure point). */
  measured: number
  frames: number
  bytes: number
  latency: string
  buckets: number[]
  connect: string
  connectFailed: number
  reconnectAttempts: number
  reconnectSuccesses: number
  drops: Record<string, number>
  /** CPU seconds (user + system) this process used. */
  cpuSeconds: number
}

export type WorkerMessage = ReadyMessage | TickMessage | ResultMessage
