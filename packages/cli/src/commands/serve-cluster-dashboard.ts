/**
 * The dashboard of `herald serve --workers N`: one view of every worker, whichever worker
 * the browser's requests land on. Over the cluster's IPC channel, through the primary:
 *
 * - stats: each worker sends its report once a tick (`stats`); once a second the primary
 *   sends every worker the latest report of each (`stats-peers`), so each worker's samples
 *   carry every worker's figures and their total (a peer's are at most about two seconds old);
 * - clients: the worker that got `GET /dashboard/api/clients` asks the primary (`clients`),
 *   which asks every worker for its count and first rows (`clients-part`), cuts the page
 *   (`planClientPages`: worker after worker, connection order within one) and, for a deeper
 *   page, asks only the one or two workers that hold it for their slice. No worker ever
 *   sends more than one page of rows.
 */
import type { Worker } from 'node:cluster'
import type {
  ClientsPage,
  ClientsQuery,
  ClientView,
  DashboardPeers,
  NodeClientCount,
  NodeReport,
} from '@herald/hub'
import { compareNodes, pageBounds, planClientPages } from '@herald/hub'

/** The dashboard's messages between the primary and the workers. */
export type DashboardMessage =
  | { herald: 'stats'; report: NodeReport }
  | { herald: 'stats-peers'; reports: ReadonlyArray<{ pid: number; report: NodeReport }> }
  | { herald: 'clients'; id: number; query: ClientsQuery }
  | { herald: 'clients-answer'; id: number; page: ClientsPage }
  | { herald: 'clients-part'; id: number; query: ClientsQuery }
  | { herald: 'clients-part-answer'; id: number; page: ClientsPage }

const DASHBOARD_MESSAGES = new Set([
  'stats',
  'stats-peers',
  'clients',
  'clients-answer',
  'clients-part',
  'clients-part-answer',
])

/** `true` for a message of this module. */
export function isDashboardMessage(value: unknown): value is DashboardMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    DASHBOARD_MESSAGES.has((value as { herald?: unknown }).herald as string)
  )
}

/** How long a worker (or the primary) waits for an answer before going on without it. */
const ANSWER_TIMEOUT_MS = 3000

/** Waits for answers by request id, each with a deadline. */
function createWaiting<T>() {
  let next = 0
  const waiting = new Map<number, (answer: T | undefined) => void>()
  return {
    /** A new request id, and the promise of its answer (`undefined` after the deadline). */
    open(): { id: number; answer: Promise<T | undefined> } {
      const id = next++
      const answer = new Promise<T | undefined>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id)
          resolve(undefined)
        }, ANSWER_TIMEOUT_MS)
        timer.unref()
        waiting.set(id, (value) => {
          clearTimeout(timer)
          resolve(value)
        })
      })
      return { id, answer }
    },
    settle(id: number, value: T): void {
      const resolve = waiting.get(id)
      waiting.delete(id)
      resolve?.(value)
    },
  }
}

/**
 * Worker side: the {@link DashboardPeers} handed to `createHub`, and `serve`, which makes the
 * worker answer the primary's requests for its clients once the hub exists.
 */
export function createWorkerDashboardPeers(): {
  peers: DashboardPeers
  serve(local: { listClients(query: ClientsQuery): ClientsPage; node: string }): void
} {
  let others: NodeReport[] = []
  let local: { listClients(query: ClientsQuery): ClientsPage; node: string } | undefined
  const pages = createWaiting<ClientsPage>()
  const send = (message: DashboardMessage): void => {
    if (process.connected) process.send?.(message)
  }

  /** This worker alone: what a page is when the primary cannot be asked. */
  function localPage(query: ClientsQuery): ClientsPage {
    if (local === undefined) return { total: 0, matched: 0, ...pageBounds(query), clients: [] }
    const page = local.listClients(query)
    const node = local.node
    return {
      ...page,
      clients: page.clients.map((c) => ({ ...c, node })),
      nodes: [{ node, total: page.total, matched: page.matched }],
    }
  }

  process.on('message', (message: unknown) => {
    if (!isDashboardMessage(message)) return
    if (message.herald === 'stats-peers') {
      others = message.reports.filter((r) => r.pid !== process.pid).map((r) => r.report)
    } else if (message.herald === 'clients-answer') {
      pages.settle(message.id, message.page)
    } else if (message.herald === 'clients-part') {
      send({ herald: 'clients-part-answer', id: message.id, page: localPage(message.query) })
    }
  })

  return {
    peers: {
      share(report) {
        send({ herald: 'stats', report })
      },
      others: () => others,
      async clients(query) {
        const { id, answer } = pages.open()
        send({ herald: 'clients', id, query })
        // The primary gone or stuck: this worker's own clients rather than no answer.
        return (await answer) ?? localPage(query)
      },
    },
    serve(hub) {
      local = hub
    },
  }
}

/**
 * Primary side: keeps each worker's latest stats report and shares them once a second, and
 * answers the workers' clients-page requests. `handle` takes every dashboard message a
 * worker sends; `forget` a worker that exited; `close` stops the timer.
 */
export function createPrimaryDashboard(workers: () => readonly Worker[]): {
  handle(worker: Worker, message: DashboardMessage): void
  forget(worker: Worker): void
  close(): void
} {
  const reports = new Map<Worker, { pid: number; report: NodeReport }>()
  const parts = createWaiting<ClientsPage>()

  const timer = setInterval(() => {
    if (reports.size === 0) return
    const message: DashboardMessage = { herald: 'stats-peers', reports: [...reports.values()] }
    for (const worker of workers()) if (worker.isConnected()) worker.send(message)
  }, 1000)
  timer.unref()

  interface Answer {
    readonly worker: Worker
    readonly node: string
    readonly page: ClientsPage
  }

  /** Asks each target for a part; the ones that answered in time, with their answer. */
  async function ask(targets: ReadonlyArray<readonly [Worker, ClientsQuery]>): Promise<Answer[]> {
    const answers = targets.map(async ([worker, query]) => {
      const { id, answer } = parts.open()
      if (worker.isConnected()) worker.send({ herald: 'clients-part', id, query })
      const page = await answer
      return page === undefined ? undefined : { worker, node: page.nodes?.[0]?.node ?? '', page }
    })
    return (await Promise.all(answers)).filter((a): a is Answer => a !== undefined)
  }

  async function clientsPage(query: ClientsQuery): Promise<ClientsPage> {
    const { offset, limit } = pageBounds(query)
    const q = query.q
    const live = workers().filter((w) => w.isConnected())
    // Round one: every worker's count, and its first rows (the usual first page needs no more).
    const first = (await ask(live.map((w) => [w, { q, offset: 0, limit }] as const))).sort((a, b) =>
      compareNodes(a.node, b.node),
    )
    const counts: NodeClientCount[] = first.map(({ node, page }) => ({
      node,
      total: page.total,
      matched: page.matched,
    }))
    const plan = planClientPages(counts, offset, limit)
    const byNode = new Map(first.map((answer) => [answer.node, answer] as const))
    // Round two, for a page past a worker's first rows: only the workers holding it.
    const deep = new Map<string, ClientsPage>()
    const deeper = plan.filter((part) => part.offset + part.limit > limit)
    if (deeper.length > 0) {
      const targets = deeper.flatMap((part) => {
        const worker = byNode.get(part.node)?.worker
        return worker === undefined
          ? []
          : [[worker, { q, offset: part.offset, limit: part.limit }] as const]
      })
      for (const answer of await ask(targets)) deep.set(answer.node, answer.page)
    }
    const clients: ClientView[] = []
    for (const part of plan) {
      const deepPage = deep.get(part.node)
      if (deepPage !== undefined) clients.push(...deepPage.clients.slice(0, part.limit))
      else {
        const rows = byNode.get(part.node)?.page.clients ?? []
        clients.push(...rows.slice(part.offset, part.offset + part.limit))
      }
    }
    let total = 0
    let matched = 0
    for (const c of counts) {
      total += c.total
      matched += c.matched
    }
    return { total, matched, offset, limit, clients, nodes: counts }
  }

  return {
    handle(worker, message) {
      if (message.herald === 'stats') {
        reports.set(worker, { pid: worker.process.pid ?? 0, report: message.report })
      } else if (message.herald === 'clients-part-answer') {
        parts.settle(message.id, message.page)
      } else if (message.herald === 'clients') {
        void clientsPage(message.query).then((page) => {
          if (worker.isConnected()) worker.send({ herald: 'clients-answer', id: message.id, page })
        })
      }
    },
    forget(worker) {
      reports.delete(worker)
    },
    close() {
      clearInterval(timer)
    },
  }
}
