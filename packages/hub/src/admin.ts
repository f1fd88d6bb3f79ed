/**
 * The admin gate of the dashboard API and `/metrics`. Gated when auth is on (a JWT key) or an
 * admin token is configured; then an admin is a caller whose `Authorization: Bearer` is the
 * admin token, or a JWT granting `herald.admin`. Only the header counts, never a cookie: the
 * admin API publishes, and a cookie would let any site's form do it (CSRF).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { HeraldError } from '@herald/protocol'
import type { Authenticator, TokenSource } from './auth.js'

/** Who is looking at the admin views. */
export type AdminAccess = 'admin' | 'anonymous'

/** The admin gate. */
export interface AdminGate {
  /** `true` when an admin grant is needed (auth on, or an admin token set). */
  readonly gated: boolean
  /**
   * `admin` for an admin (or anyone when not gated), `anonymous` without a token.
   *
   * @throws {HeraldError} `HERALD_UNAUTHORIZED` (401) for a token that is neither the admin
   * token nor a valid JWT; `HERALD_FORBIDDEN` (403) for a valid JWT without the admin grant.
   */
  check(source: TokenSource): Promise<AdminAccess>
  /** As {@link check}, but an anonymous caller is refused too (401). */
  require(source: TokenSource): Promise<void>
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** Smallest admin token accepted: shorter ones are guessable. */
export const MIN_ADMIN_TOKEN_LENGTH = 16

/**
 * Creates the gate.
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG` for an admin token shorter than 16 characters.
 */
export function createAdminGate(auth: Authenticator, adminToken: string | undefined): AdminGate {
  const token = adminToken === undefined || adminToken === '' ? undefined : adminToken
  if (token !== undefined && token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (try: openssl rand -hex 24)`,
    )
  }
  const expected = token === undefined ? undefined : digest(token)
  const gated = auth.enabled || token !== undefined

  async function check(source: TokenSource): Promise<AdminAccess> {
    if (!gated) return 'admin'
    const header = source.header('authorization')
    if (header === undefined || header === '') return 'anonymous'
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
    if (match?.[1] === undefined) {
      throw new HeraldError(
        'HERALD_UNAUTHORIZED',
        'Authorization header must be "Bearer <token>"',
        {
          status: 401,
        },
      )
    }
    // Compared as digests: constant time, whatever the lengths.
    if (expected !== undefined && timingSafeEqual(digest(match[1]), expected)) return 'admin'
    if (!auth.enabled) {
      throw new HeraldError('HERALD_UNAUTHORIZED', 'not the admin token', { status: 401 })
    }
    const principal = await auth.authenticate({
      header: (n) => (n === 'authorization' ? header : undefined),
      url: source.url,
    })
    if (principal.admin === true) return 'admin'
    throw new HeraldError('HERALD_FORBIDDEN', 'the token does not grant herald.admin', {
      status: 403,
    })
  }

  return {
    gated,
    check,
    async require(source) {
      if ((await check(source)) === 'admin') return
      throw new HeraldError(
        'HERALD_UNAUTHORIZED',
        'an admin grant is required: Authorization: Bearer <admin token, or a JWT with herald.admin>',
        { status: 401 },
      )
    },
  }
}
