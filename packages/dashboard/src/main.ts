/**
 * The Herald dashboard. One stats stream (SSE, through @herald/client so it can carry the
 * admin token in a header) feeds the numbers and charts; the clients table is paged and
 * searched on the hub; the playground publishes and tails through the admin API.
 */
import { EventSource } from '@herald/client'
import type {
  ClientsPage,
  NodeStats,
  StatsSample,
  StatsSnapshot,
  TailEvent,
  TopicCount,
} from '@herald/hub'
import { type Chart, createChart } from './charts.js'
import { age, bytes, count, ms, rate } from './format.js'

const API = './dashboard/api'
const TOKEN_KEY = 'herald.adminToken'
const THEME_KEY = 'herald.theme'
const WINDOW_POINTS = 300
const PAGE_SIZE = 50
const TAIL_ROWS = 200

function $(id: string): HTMLElement {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} missing`)
  return el
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; title?: string } = {},
  children: Array<Node | string> = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (props.className !== undefined) node.className = props.className
  if (props.text !== undefined) node.textContent = props.text
  if (props.title !== undefined) node.title = props.title
  for (const child of children) node.append(child)
  return node
}

// ---- token ---------------------------------------------------------------------------

/** A token given in the URL fragment (`#admin-token=...`) is kept for this tab and removed. */
function takeTokenFromHash(): void {
  const match = /(?:^#|&)admin-token=([^&]+)/.exec(location.hash)
  if (match?.[1] === undefined) return
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]))
  history.replaceState(null, '', location.pathname + location.search)
}

function token(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined
}

function authHeaders(): Record<string, string> {
  const t = token()
  return t === undefined ? {} : { authorization: `Bearer ${t}` }
}

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${API}/${path}`, {
    ...init,
    headers: { accept: 'application/json', ...authHeaders(), ...(init.headers ?? {}) },
  })
  const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string }
  if (!response.ok) {
    throw new Error(`${response.status} ${body.code ?? ''} ${body.message ?? ''}`.trim())
  }
  return body as T
}

// ---- theme ---------------------------------------------------------------------------

const charts: Chart[] = []

function applyTheme(theme: string | null): void {
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme
  else delete document.documentElement.dataset.theme
  for (const chart of charts) chart.rebuild()
  redrawCharts()
}

function currentTheme(): 'light' | 'dark' {
  const set = document.documentElement.dataset.theme
  if (set === 'light' || set === 'dark') return set
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

$('theme').addEventListener('click', () => {
  const next = currentTheme() === 'dark' ? 'light' : 'dark'
  localStorage.setItem(THEME_KEY, next)
  applyTheme(next)
})
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  if (localStorage.getItem(THEME_KEY) === null) applyTheme(null)
})
if (localStorage.getItem(THEME_KEY) !== null) {
  document.documentElement.dataset.theme = localStorage.getItem(THEME_KEY) ?? ''
}

// ---- stats ---------------------------------------------------------------------------

interface Point {
  t: number
  connections: number
  /** Connections per worker, by node name (several workers only). */
  byNode: Map<string, number>
  published: number
  delivered: number
  p50: number | null
  p95: number | null
  p99: number | null
}

const points: Point[] = []
let snapshot: StatsSnapshot | undefined
/** Workers drawn as lines of their own in the connections chart (more would be noise). */
const MAX_NODE_LINES = 8
const NODE_COLOURS = ['--s2', '--s3', '--s4', '--s5']

function toPoint(sample: StatsSample): Point {
  const { total } = sample
  return {
    t: sample.t,
    connections: total.connections,
    byNode:
      sample.nodes.length > 1
        ? new Map(sample.nodes.map((n) => [n.node, n.connections]))
        : new Map(),
    published: total.publishedPerSec,
    delivered: total.deliveredPerSec,
    p50: total.latencyMs.p50,
    p95: total.latencyMs.p95,
    p99: total.latencyMs.p99,
  }
}

function push(sample: StatsSample): void {
  points.push(toPoint(sample))
  if (points.length > WINDOW_POINTS) points.splice(0, points.length - WINDOW_POINTS)
}

const connectionsChart = createChart(
  $('c-connections'),
  [{ label: 'open', colour: '--s1', fill: true }],
  count,
)
const ratesChart = createChart(
  $('c-rates'),
  [
    { label: 'published', colour: '--s3' },
    { label: 'delivered', colour: '--s2', fill: true },
  ],
  rate,
)
const latencyChart = createChart(
  $('c-latency'),
  [
    { label: 'p50', colour: '--s2' },
    { label: 'p95', colour: '--s1' },
    { label: 'p99', colour: '--s3' },
  ],
  ms,
)
charts.push(connectionsChart, ratesChart, latencyChart)

/** The workers of the newest point (none for a single process, or too many to draw). */
function chartNodes(): string[] {
  const names = [...(points.at(-1)?.byNode.keys() ?? [])]
  return names.length > MAX_NODE_LINES ? [] : names
}

function redrawCharts(): void {
  const xs = points.map((p) => p.t / 1000)
  const nodes = chartNodes()
  connectionsChart.setLines([
    { label: nodes.length > 0 ? 'total' : 'open', colour: '--s1', fill: true },
    ...nodes.map((node, i) => ({
      label: shortNode(node, i),
      colour: NODE_COLOURS[i % NODE_COLOURS.length] as string,
    })),
  ])
  connectionsChart.setData([
    xs,
    points.map((p) => p.connections),
    ...nodes.map((node) => points.map((p) => p.byNode.get(node) ?? null)),
  ])
  ratesChart.setData([xs, points.map((p) => p.published), points.map((p) => p.delivered)])
  latencyChart.setData([
    xs,
    points.map((p) => p.p50),
    points.map((p) => p.p95),
    points.map((p) => p.p99),
  ])
}

/** A worker's short label: its pid (`host:pid`), or its place (`node 2`, read-only view). */
function shortNode(node: string, index: number): string {
  const pid = /:(\d+)$/.exec(node)?.[1]
  return pid === undefined ? (node === '' ? `node ${index + 1}` : node) : `pid ${pid}`
}

function setText(id: string, text: string, tone?: 'ok' | 'bad' | 'warn'): void {
  const node = $(id)
  node.textContent = text
  node.classList.remove('ok', 'bad', 'warn')
  if (tone !== undefined) node.classList.add(tone)
}

function renderKpis(sample: StatsSample): void {
  const { total, nodes } = sample
  const p = toPoint(sample)
  setText('k-connections', count(p.connections))
  $('k-connections').dataset.value = String(p.connections)
  setText(
    'k-subscribers',
    nodes.length > 1 ? `on ${nodes.length} workers` : `${count(total.subscribers)} subscriptions`,
  )
  $('k-subscribers').title = `${count(total.subscribers)} subscriptions`
  setText('k-published', rate(p.published))
  const errors = total.publishErrorsPerSec
  setText('k-errors', errors > 0 ? `${rate(errors)}/s refused` : 'no refusals')
  setText('k-delivered', rate(p.delivered))
  setText(
    'k-fanout',
    p.published > 0 ? `fan-out ×${(p.delivered / p.published).toFixed(1)}` : 'idle',
  )
  setText('k-p99', ms(p.p99))
  setText('k-p50', `p50 ${ms(p.p50).replace(' ms', '')} · p95 ${ms(p.p95)}`)
  $('k-p50').title = `p50 ${ms(p.p50)}, p95 ${ms(p.p95)}, p99 ${ms(p.p99)} over the last 5 s`
  setText('k-replayed', rate(total.replayedPerSec))
  setText('k-replayed-total', `${count(total.replayed)} since start`)
  const slow = total.slowConsumersClosed
  setText('k-slow', count(slow), slow > 0 ? 'warn' : undefined)
  setText('k-resets', count(total.resets))
  const down = nodes.filter((n) => n.store.ok === false).length
  setText(
    'k-store',
    total.store.ok === null
      ? '–'
      : down > 0
        ? nodes.length > 1
          ? `down on ${down}`
          : 'down'
        : 'ok',
    total.store.ok === null ? undefined : down > 0 ? 'bad' : 'ok',
  )
  setText('k-lag', `lag ${count(total.store.lagEvents)} · probe ${ms(total.store.latencyMs)}`)
}

function rankRows(
  body: HTMLElement,
  rows: readonly TopicCount[],
  format: (n: number) => string,
): void {
  const max = rows.reduce((m, r) => Math.max(m, r.value), 0)
  const nodes = rows.map((row) => {
    const bar = el('td', { className: 'num bar-cell' }, [el('span', { text: format(row.value) })])
    const fill = el('i')
    fill.style.width = `${max > 0 ? Math.max(2, (row.value / max) * 100) : 0}%`
    bar.prepend(fill)
    return el('tr', {}, [el('td', { text: row.topic }), bar])
  })
  if (nodes.length === 0) nodes.push(el('tr', {}, [emptyCell('nothing yet', 2)]))
  body.replaceChildren(...nodes)
}

function emptyCell(text: string, span: number): HTMLTableCellElement {
  const td = el('td', { className: 'empty', text })
  td.colSpan = span
  return td
}

function storeCell(n: NodeStats): HTMLTableCellElement {
  const { ok, latencyMs } = n.store
  return el('td', {
    className: `num ${ok === false ? 'bad' : ok === true ? 'ok' : ''}`,
    text: ok === null ? '–' : ok ? 'ok' : 'down',
    title: `store probe ${ms(latencyMs)}`,
  })
}

/** One row of the workers table. */
function nodeRow(n: NodeStats, label: string, isTotal: boolean): HTMLTableRowElement {
  const cell = (text: string, value?: number): HTMLTableCellElement => {
    const td = el('td', { className: 'num', text })
    if (value !== undefined) td.dataset.value = String(value)
    return td
  }
  const row = el('tr', { className: isTotal ? 'total' : '' }, [
    el(isTotal ? 'th' : 'td', { className: 'node', text: label, title: n.node }),
    cell(count(n.connections), n.connections),
    cell(rate(n.publishedPerSec)),
    cell(rate(n.deliveredPerSec)),
    cell(ms(n.latencyMs.p50)),
    cell(ms(n.latencyMs.p95)),
    cell(ms(n.latencyMs.p99)),
    cell(rate(n.replayedPerSec)),
    cell(count(n.slowConsumersClosed)),
    cell(count(n.resets)),
    storeCell(n),
    cell(n.store.lagEvents === null ? '–' : count(n.store.lagEvents)),
    cell(bytes(n.memory.rssBytes)),
  ])
  if (isTotal) (row.firstChild as HTMLElement).setAttribute('scope', 'row')
  return row
}

function renderTables(sample: StatsSample): void {
  if (sample.topics !== undefined) {
    rankRows($('t-subs'), sample.topics.bySubscribers, count)
    rankRows($('t-rate'), sample.topics.byRate, rate)
  }
  const several = sample.nodes.length > 1
  $('nodes-title').textContent = several ? `Workers (${sample.nodes.length})` : 'Node'
  const rows = sample.nodes.map((n, i) => nodeRow(n, n.node || `node ${i + 1}`, false))
  if (several) rows.push(nodeRow(sample.total, 'Total', true))
  $('t-nodes').replaceChildren(...rows)
}

function setAccess(snap: StatsSnapshot): void {
  const access = $('access')
  const notice = $('notice')
  const signIn = $('sign-in')
  document.body.classList.toggle('admin', snap.admin)
  if (!snap.gated) {
    access.dataset.state = 'open'
    access.textContent = 'auth off'
    access.title =
      'No JWT key and no --admin-token: anyone who can reach this hub sees everything here'
    signIn.hidden = true
    notice.hidden = true
  } else if (snap.admin) {
    access.dataset.state = 'admin'
    access.textContent = 'admin'
    access.title = 'Signed in with an admin grant'
    signIn.hidden = false
    signIn.textContent = 'Token'
    notice.hidden = true
  } else {
    access.dataset.state = 'read-only'
    access.textContent = 'read-only'
    access.title = 'Aggregate numbers only'
    signIn.hidden = false
    signIn.textContent = 'Admin sign-in'
    notice.hidden = false
    notice.textContent =
      'Read-only view: aggregate numbers only. Sign in with an admin token to see topics, connected clients and the playground.'
  }
}

let stats: EventSource | undefined

function connectStats(): void {
  stats?.close()
  const live = $('live')
  live.dataset.state = 'connecting'
  live.textContent = 'connecting'
  const source = new EventSource(`${API}/stats`, {
    headers: () => authHeaders(),
    backoff: { initialMs: 500, maxMs: 5000 },
  })
  stats = source
  source.addEventListener('snapshot', (event: Event) => {
    const snap = JSON.parse((event as MessageEvent<string>).data) as StatsSnapshot
    snapshot = snap
    $('node-name').textContent = snap.node
    setAccess(snap)
    points.length = 0
    for (const sample of snap.history.slice(-WINDOW_POINTS)) push(sample)
    const last = snap.history.at(-1)
    if (last !== undefined) {
      renderKpis(last)
      renderTables(last)
    }
    redrawCharts()
    live.dataset.state = 'live'
    live.textContent = 'live'
    if (snap.admin) void loadClients()
  })
  source.addEventListener('sample', (event: Event) => {
    const sample = JSON.parse((event as MessageEvent<string>).data) as StatsSample
    push(sample)
    renderKpis(sample)
    renderTables(sample)
    redrawCharts()
  })
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED && token() !== undefined) {
      // The token was refused (401/403 end the stream): forget it and fall back to read-only.
      sessionStorage.removeItem(TOKEN_KEY)
      showSignInError('The hub refused that token.')
      connectStats()
      return
    }
    live.dataset.state = 'down'
    live.textContent = source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting'
  })
}

// ---- clients -------------------------------------------------------------------------

let clientsOffset = 0
let clientsQuery = ''
let clientsTimer: ReturnType<typeof setTimeout> | undefined
let clientsSeq = 0

async function loadClients(): Promise<void> {
  if (clientsTimer !== undefined) clearTimeout(clientsTimer)
  clientsTimer = setTimeout(() => void loadClients(), 2000)
  if (snapshot?.admin !== true || document.hidden) return
  const seq = ++clientsSeq
  const params = new URLSearchParams({ offset: String(clientsOffset), limit: String(PAGE_SIZE) })
  if (clientsQuery !== '') params.set('q', clientsQuery)
  let page: ClientsPage
  try {
    page = await api<ClientsPage>(`clients?${params}`)
  } catch {
    return
  }
  if (seq !== clientsSeq) return
  if (page.matched > 0 && page.offset >= page.matched) {
    clientsOffset = Math.max(0, Math.floor((page.matched - 1) / PAGE_SIZE) * PAGE_SIZE)
    void loadClients()
    return
  }
  renderClients(page)
}

function renderClients(page: ClientsPage): void {
  const now = Date.now()
  const several = (page.nodes?.length ?? 0) > 1
  document.body.classList.toggle('workers', several)
  const nodeIndex = new Map((page.nodes ?? []).map((n, i) => [n.node, i]))
  const rows = page.clients.map((c) =>
    el('tr', {}, [
      el('td', { className: 'mono', text: c.ip || '–' }),
      el('td', {
        className: 'mono worker-col',
        text: c.node === undefined ? '' : shortNode(c.node, nodeIndex.get(c.node) ?? 0),
        title: c.node ?? '',
      }),
      el(
        'td',
        {},
        c.topics.map((t) => el('span', { className: 'tag', text: t })),
      ),
      el('td', { text: age(c.since, now), title: new Date(c.since).toLocaleString() }),
      el('td', { className: 'num', text: bytes(c.queuedBytes) }),
      el('td', {
        className: 'mono',
        text: c.id,
        title: c.lastEventId === null ? 'live from connect' : `resumed from ${c.lastEventId}`,
      }),
    ]),
  )
  if (rows.length === 0) {
    rows.push(
      el('tr', {}, [emptyCell(clientsQuery === '' ? 'no client connected' : 'no match', 6)]),
    )
  }
  $('clients').replaceChildren(...rows)
  const first = page.matched === 0 ? 0 : page.offset + 1
  const last = page.offset + page.clients.length
  $('clients-count').textContent =
    page.matched === page.total
      ? `(${count(page.total)})`
      : `(${count(page.matched)} of ${count(page.total)})`
  // Per worker: how many each holds (and matches), in page order.
  $('clients-nodes').textContent = several
    ? (page.nodes ?? [])
        .map(
          (n, i) =>
            `${shortNode(n.node, i)}: ${count(n.matched)}${n.matched === n.total ? '' : ` of ${count(n.total)}`}`,
        )
        .join(' · ')
    : ''
  $('clients-page').textContent = `${count(first)}–${count(last)} of ${count(page.matched)}`
  ;($('clients-prev') as HTMLButtonElement).disabled = page.offset === 0
  ;($('clients-next') as HTMLButtonElement).disabled = last >= page.matched
}

let searchTimer: ReturnType<typeof setTimeout> | undefined
$('clients-q').addEventListener('input', (event) => {
  clientsQuery = (event.target as HTMLInputElement).value.trim()
  clientsOffset = 0
  if (searchTimer !== undefined) clearTimeout(searchTimer)
  searchTimer = setTimeout(() => void loadClients(), 150)
})
$('clients-prev').addEventListener('click', () => {
  clientsOffset = Math.max(0, clientsOffset - PAGE_SIZE)
  void loadClients()
})
$('clients-next').addEventListener('click', () => {
  clientsOffset += PAGE_SIZE
  void loadClients()
})
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void loadClients()
})

// ---- playground ----------------------------------------------------------------------

$('publish').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = event.target as HTMLFormElement
  const fields = new FormData(form)
  const out = $('publish-result')
  const raw = String(fields.get('data') ?? '')
  let data: unknown = raw
  try {
    data = JSON.parse(raw)
  } catch {}
  const type = String(fields.get('event') ?? '').trim()
  try {
    const answer = await api<{ id: string }>('publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        topic: String(fields.get('topic') ?? '').trim(),
        data,
        ...(type === '' ? {} : { event: type }),
        ...(fields.get('private') === null ? {} : { private: true }),
      }),
    })
    out.classList.remove('bad')
    out.textContent = `published as ${answer.id}`
  } catch (error) {
    out.classList.add('bad')
    out.textContent = (error as Error).message
  }
})

let tail: EventSource | undefined

function stopTail(note?: string): void {
  tail?.close()
  tail = undefined
  $('tail-toggle').textContent = 'Start'
  if (note !== undefined) $('tail-status').textContent = note
}

function tailNote(text: string): void {
  const list = $('tail')
  list.prepend(el('li', { className: 'note', text }))
  while (list.childElementCount > TAIL_ROWS) list.lastElementChild?.remove()
}

$('tail-form').addEventListener('submit', (event) => {
  event.preventDefault()
  if (tail !== undefined) {
    stopTail('Stopped.')
    return
  }
  const pattern = String(new FormData(event.target as HTMLFormElement).get('pattern') ?? '').trim()
  if (pattern === '') return
  let received = 0
  const source = new EventSource(`${API}/tail?${new URLSearchParams({ topic: pattern })}`, {
    headers: () => authHeaders(),
  })
  tail = source
  $('tail-toggle').textContent = 'Stop'
  $('tail-status').textContent = `Tailing ${pattern}…`
  source.addEventListener('open', () => {
    $('tail-status').textContent = `Tailing ${pattern}: waiting for events`
  })
  source.addEventListener('event', (message: Event) => {
    const e = JSON.parse((message as MessageEvent<string>).data) as TailEvent
    received++
    $('tail-status').textContent = `Tailing ${pattern}: ${count(received)} events`
    const head = el('div', {}, [el('span', { className: 'topic', text: e.topic })])
    if (e.type !== undefined) head.append(el('span', { className: 'type', text: e.type }))
    if (e.private) head.append(el('span', { className: 'priv', text: 'private' }))
    const row = el('li', {}, [
      el('span', { className: 'id', text: e.id }),
      head,
      el('span', { className: 'data', text: e.data }),
    ])
    const list = $('tail')
    list.prepend(row)
    while (list.childElementCount > TAIL_ROWS) list.lastElementChild?.remove()
  })
  source.addEventListener('dropped', (message: Event) => {
    const { count: n } = JSON.parse((message as MessageEvent<string>).data) as { count: number }
    tailNote(`${count(n)} events not shown (the tail shows at most 50 a second)`)
  })
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED)
      stopTail('The hub refused the tail (check the pattern and your token).')
  })
})

// ---- sign-in -------------------------------------------------------------------------

const dialog = $('sign-in-dialog') as HTMLDialogElement

function showSignInError(text: string): void {
  const notice = $('notice')
  notice.hidden = false
  notice.textContent = text
}

$('sign-in').addEventListener('click', () => {
  ;(dialog.querySelector('input[name=token]') as HTMLInputElement).value = ''
  dialog.showModal()
})
$('sign-in-cancel').addEventListener('click', () => dialog.close())
$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY)
  dialog.close()
  stopTail()
  connectStats()
})
$('sign-in-form').addEventListener('submit', (event) => {
  const value = String(new FormData(event.target as HTMLFormElement).get('token') ?? '').trim()
  if (value === '') return
  sessionStorage.setItem(TOKEN_KEY, value)
  connectStats()
})

// ---- start ---------------------------------------------------------------------------

takeTokenFromHash()
applyTheme(localStorage.getItem(THEME_KEY))
connectStats()
