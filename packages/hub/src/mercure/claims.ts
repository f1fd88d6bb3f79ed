/**
 * Mercure's token claims, read into selectors: the draft-07 `mercure` claim
 * (`{ publish: [...], subscribe: [...], payload }`, URI-template selectors) and the current
 * spec's `authorization_details` (RFC 9396) entries of type
 * `https://mercure.rocks/authorization-detail` (`actions`, `topics` of `{ match, match_type }`,
 * `payload`). A malformed Mercure detail rejects the whole token (no partial grants).
 */
import { HeraldError } from '@herald/protocol'
import { createSelector, type MercureSelector, type SelectorKind } from './selector.js'

/** The `type` of a Mercure authorization detail. */
export const MERCURE_DETAIL_TYPE = 'https://mercure.rocks/authorization-detail'

/** Most Mercure authorization details, and topics per detail, a token may carry. */
export const MAX_DETAILS = 100

/** A payload attached to subscriptions its selectors match (the first one wins). */
export interface PayloadGrant {
  readonly selectors: readonly MercureSelector[]
  readonly payload: unknown
}

/** What a token grants on the Mercure side. */
export interface MercureGrants {
  /** Selectors the token may publish to. */
  readonly publish: readonly MercureSelector[]
  /** Selectors whose private updates the token may receive. */
  readonly subscribe: readonly MercureSelector[]
  /** Subscription payloads, in token order. */
  readonly payloads: readonly PayloadGrant[]
}

function invalidToken(message: string): HeraldError {
  return Object.assign(
    new HeraldError('HERALD_UNAUTHORIZED', `invalid token: ${message}`, { status: 401 }),
    { bearerError: 'invalid_token' },
  )
}

function selectors(
  value: unknown,
  claim: string,
  kind: (entry: unknown) => [SelectorKind, unknown],
  base: string,
): MercureSelector[] {
  if (!Array.isArray(value)) throw invalidToken(`${claim} must be an array`)
  if (value.length > MAX_DETAILS)
    throw invalidToken(`${claim} has more than ${MAX_DETAILS} entries`)
  return value.map((entry, i) => {
    const [k, v] = kind(entry)
    try {
      return createSelector(k, v, base)
    } catch (error) {
      throw invalidToken(`${claim}[${i}]: ${(error as Error).message}`)
    }
  })
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function matcherOf(claim: string): (entry: unknown) => [SelectorKind, unknown] {
  return (entry) => {
    if (!isObject(entry)) throw invalidToken(`${claim} entries must be objects`)
    const type = entry.match_type ?? 'exact'
    if (type !== 'exact' && type !== 'urlpattern') {
      throw invalidToken(`${claim}: unsupported match_type ${JSON.stringify(type)}`)
    }
    return [type, entry.match]
  }
}

/**
 * Reads the Mercure grants of a verified JWT payload; `undefined` when it has neither claim.
 * `base` is the hub's URL (relative URL patterns resolve against it).
 *
 * @throws {HeraldError} `HERALD_UNAUTHORIZED` (401) for a malformed claim.
 */
export function mercureGrantsOf(
  payload: Record<string, unknown>,
  base: string,
): MercureGrants | undefined {
  const classic = payload.mercure
  const details = payload.authorization_details
  if (classic === undefined && details === undefined) return undefined
  const publish: MercureSelector[] = []
  const subscribe: MercureSelector[] = []
  const payloads: PayloadGrant[] = []
  const template = (entry: unknown): [SelectorKind, unknown] => ['template', entry]
  if (classic !== undefined) {
    if (!isObject(classic)) throw invalidToken('claim mercure must be an object')
    if (classic.publish !== undefined)
      publish.push(...selectors(classic.publish, 'mercure.publish', template, base))
    if (classic.subscribe !== undefined) {
      const subs = selectors(classic.subscribe, 'mercure.subscribe', template, base)
      subscribe.push(...subs)
      // draft-07: the payload goes with every subscription of the token.
      if (classic.payload !== undefined)
        payloads.push({
          selectors: [createSelector('template', '*', base)],
          payload: classic.payload,
        })
    }
  }
  if (details !== undefined) {
    if (!Array.isArray(details)) throw invalidToken('authorization_details must be an array')
    let mercureDetails = 0
    details.forEach((detail, i) => {
      const where = `authorization_details[${i}]`
      if (!isObject(detail)) throw invalidToken(`${where} must be an object`)
      // Details of other types belong to other APIs (RFC 9396): not ours to judge.
      if (detail.type !== MERCURE_DETAIL_TYPE) return
      if (++mercureDetails > MAX_DETAILS)
        throw invalidToken(`more than ${MAX_DETAILS} Mercure authorization details`)
      const actions = detail.actions
      if (
        !Array.isArray(actions) ||
        actions.length === 0 ||
        !actions.every((a) => typeof a === 'string')
      ) {
        throw invalidToken(`${where}.actions must be a non-empty array of strings`)
      }
      if (!Array.isArray(detail.topics) || detail.topics.length === 0) {
        throw invalidToken(`${where}.topics must be a non-empty array`)
      }
      const topics = selectors(detail.topics, `${where}.topics`, matcherOf(`${where}.topics`), base)
      if (detail.payload !== undefined && !isObject(detail.payload)) {
        throw invalidToken(`${where}.payload must be an object`)
      }
      // Unknown actions grant nothing (forward compatibility), as the spec requires.
      if (actions.includes('publish')) publish.push(...topics)
      if (actions.includes('subscribe')) {
        subscribe.push(...topics)
        if (detail.payload !== undefined)
          payloads.push({ selectors: topics, payload: detail.payload })
      }
    })
  }
  return { publish, subscribe, payloads }
}

/** The payload of the first grant whose selectors match `selector` (a subscription's matcher). */
export function payloadFor(grants: MercureGrants | undefined, selector: string): unknown {
  if (grants === undefined) return undefined
  for (const grant of grants.payloads) {
    if (grant.selectors.some((s) => s.matches(selector))) return grant.payload
  }
  return undefined
}
