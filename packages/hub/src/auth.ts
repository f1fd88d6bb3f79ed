/**
 * JWT authentication and topic authorization (jose). A token grants topic patterns to
 * publish to and to subscribe to, in the `herald` claim (`{ "herald": { "publish": [...],
 * "subscribe": [...] } }`, or the flat `herald.publish` / `herald.subscribe` claims) or in
 * Mercure's claims (the draft-07 `mercure` claim and the current spec's `authorization_details`),
 * so Mercure tokens work unchanged: those grant Mercure selectors (`*`, exact topics, URI
 * templates, URL patterns; see `mercure/selector.ts`). In a Herald claim, a lone `*` grants every
 * topic; other patterns follow `topic.ts`.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { HeraldError } from '@herald/protocol'
import { assertValidTopicPattern, patternCovers, topicMatches } from '@herald/store'
import type { JWTPayload, JWTVerifyGetKey, RemoteJWKSet } from 'jose'
import { type MercureGrants, mercureGrantsOf } from './mercure/claims.js'

/** Authentication options of the hub. With no key at all, auth is off (development mode). */
export interface AuthOptions {
  /** HS256/HS384/HS512 shared secret. */
  jwtSecret?: string | undefined
  /** RSA, RSA-PSS, EC or Ed25519 public key: PEM (SPKI or certificate) or a JWK as JSON text. */
  jwtPublicKey?: string | undefined
  /** URL of a JSON Web Key Set (fetched and cached; rotated keys are picked up by `kid`). */
  jwksUrl?: string | URL | undefined
  /** Required `aud` claim (one of). */
  audience?: string | readonly string[] | undefined
  /** Required `iss` claim (one of). */
  issuer?: string | readonly string[] | undefined
  /** Let clients without a token subscribe to public events. Default `true`. */
  anonymousSubscribe?: boolean | undefined
  /** Also read the token from the `authorization` query parameter. Default `false` (it leaks into logs). */
  queryToken?: boolean | undefined
  /**
   * Cookie carrying the token. Default `heraldAuthorization` (Mercure's `mercureAuthorization`
   * and `__Secure-mercure_access_token` are read too).
   */
  cookieName?: string | undefined
  /** Clock skew tolerated on `exp` and `nbf`, in seconds. Default 0. */
  clockToleranceSeconds?: number | undefined
  /**
   * Verified tokens remembered, keyed by the token string, until their `exp`, so a caller
   * that sends the same token on every request pays for the signature check once: without
   * it, verifying the token is most of a publish. Bounded by `maxEntries` (default 10 000)
   * and `maxChars` (the tokens' total length, default 8 Mi characters); the oldest go first.
   * A token is never accepted from the cache that a fresh verification would refuse: expiry
   * is checked on every use with the same clock tolerance, and with a JWKS the cache is
   * emptied whenever the fetched key set changes (a rotated or revoked key) and re-checked
   * against it once the set is stale. Invalid tokens are never remembered. `false` (or
   * `maxEntries: 0`) verifies every request.
   */
  tokenCache?:
    | { maxEntries?: number | undefined; maxChars?: number | undefined }
    | false
    | undefined
}

/** Who is calling, after authentication. */
export interface Principal {
  /** `false` for an anonymous caller. */
  readonly authenticated: boolean
  /** Token subject (`sub`), if any. */
  readonly subject: string | undefined
  /** Raw token, used as the rate-limit key. */
  readonly token: string | undefined
  /** Patterns the caller may publish to. */
  readonly publish: readonly string[]
  /** Patterns the caller may subscribe to (and receive private events on). */
  readonly subscribe: readonly string[]
  /** When the token expires (ms since the epoch), if it does. */
  readonly expiresAt: number | undefined
  /**
   * `true` when the token grants the admin views (dashboard, clients, playground, `/metrics`):
   * claim `herald.admin: true` or `{ "herald": { "admin": true } }`.
   */
  readonly admin?: boolean | undefined
  /**
   * Where the token came from. A browser attaches cookies to cross-site requests on its own,
   * so a `cookie` token proves nothing about the page that sent the request.
   */
  readonly tokenFrom?: 'header' | 'cookie' | 'query' | undefined
  /** What the token's Mercure claims (`mercure`, `authorization_details`) grant, if any. */
  readonly mercure?: MercureGrants | undefined
}

/** Where a token may come from. */
export interface TokenSource {
  /** Reads a request header (case-insensitive name). */
  header(name: string): string | undefined
  /** The request URL. */
  url: URL
}

/** Authenticates requests and answers authorization questions. */
export interface Authenticator {
  /** `true` when a key is configured. */
  readonly enabled: boolean
  /** Whether clients without a token may subscribe to public events. */
  readonly anonymousSubscribe: boolean
  /**
   * Reads and verifies the request's token. Resolves to the anonymous principal when there
   * is none.
   *
   * @throws {HeraldError} `HERALD_UNAUTHORIZED` (401) for an invalid token.
   */
  authenticate(source: TokenSource): Promise<Principal>
  /**
   * {@link authenticate} at once, when it needs no verification: the anonymous principal
   * (auth off, or no token), or a token the token cache holds and that is still valid.
   * `undefined` when the token must be verified (call {@link authenticate}).
   *
   * @throws {HeraldError} `HERALD_UNAUTHORIZED` (401) for a malformed `Authorization` header.
   */
  authenticateNow?(source: TokenSource): Principal | undefined
  /** Verified tokens held by the token cache right now (see {@link AuthOptions.tokenCache}). */
  readonly cachedTokens: number
}

/** The principal of a caller without a token. */
export const ANONYMOUS: Principal = Object.freeze({
  authenticated: false,
  subject: undefined,
  token: undefined,
  publish: [],
  subscribe: [],
  expiresAt: undefined,
})

const HMAC = ['HS256', 'HS384', 'HS512']
const ASYMMETRIC = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]

function grants(patterns: readonly string[], check: (pattern: string) => boolean): boolean {
  for (const pattern of patterns) if (pattern === '*' || check(pattern)) return true
  return false
}

/**
 * Publish grants already decided, by grant list (a cached token's principal keeps its list)
 * and topic: a publisher sends to the same few topics again and again, and matching splits
 * every pattern and the topic into segments. Bounded per list (cleared when full).
 */
const publishDecisions = new WeakMap<readonly string[], Map<string, boolean>>()

/** `true` when `principal` may publish to the concrete `topic`. */
export function canPublish(principal: Principal, topic: string): boolean {
  const patterns = principal.publish
  let decided = publishDecisions.get(patterns)
  if (decided === undefined) {
    decided = new Map()
    publishDecisions.set(patterns, decided)
  }
  let granted = decided.get(topic)
  if (granted === undefined) {
    granted = grants(patterns, (p) => topicMatches(p, topic))
    if (decided.size >= 256) decided.clear()
    decided.set(topic, granted)
  }
  if (granted) return true
  return principal.mercure?.publish.some((s) => s.matches(topic)) === true
}

/**
 * `true` when `principal` may subscribe to the Herald topic pattern `requested` (`/events`).
 * A Mercure selector grants `*`, or a concrete topic it matches, or itself as written.
 */
export function canSubscribe(principal: Principal, requested: string): boolean {
  if (grants(principal.subscribe, (p) => patternCovers(p, requested))) return true
  const mercure = principal.mercure?.subscribe
  if (mercure === undefined) return false
  const concrete = !requested.includes('*')
  return mercure.some((s) => s.all || s.value === requested || (concrete && s.matches(requested)))
}

/**
 * `true` when `principal` may receive a private event with these topics (canonical first,
 * then alternates): a grant matching ANY of them suffices, as Mercure defines.
 */
export function canReceivePrivate(
  principal: Principal,
  topics: string | readonly string[],
): boolean {
  const list = typeof topics === 'string' ? [topics] : topics
  for (const topic of list) {
    if (grants(principal.subscribe, (p) => topicMatches(p, topic))) return true
  }
  const mercure = principal.mercure?.subscribe
  if (mercure === undefined) return false
  for (const selector of mercure) for (const topic of list) if (selector.matches(topic)) return true
  return false
}

/** A presented token that fails: 401 with RFC 6750's `error="invalid_token"` challenge. */
function unauthorized(message: string, cause?: unknown): HeraldError {
  return Object.assign(new HeraldError('HERALD_UNAUTHORIZED', message, { status: 401, cause }), {
    bearerError: 'invalid_token',
  })
}

function algorithmsOf(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512']
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      if (curve === 'prime256v1' || curve === 'P-256') return ['ES256']
      if (curve === 'secp384r1' || curve === 'P-384') return ['ES384']
      if (curve === 'secp521r1' || curve === 'P-521') return ['ES512']
      break
    }
    case 'ed25519':
      return ['EdDSA']
  }
  throw new HeraldError(
    'HERALD_INVALID_CONFIG',
    `jwtPublicKey: unsupported key type ${key.asymmetricKeyType ?? 'unknown'} (use RSA, EC P-256/384/521 or Ed25519)`,
  )
}

function importPublicKey(text: string): KeyObject {
  try {
    const trimmed = text.trim()
    const key = trimmed.startsWith('{')
      ? createPublicKey({
          key: JSON.parse(trimmed) as import('node:crypto').JsonWebKey,
          format: 'jwk',
        })
      : createPublicKey(trimmed)
    if (key.type !== 'public') throw new Error('not a public key')
    return key
  } catch (error) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `jwtPublicKey: not a PEM or JWK public key (${(error as Error).message})`,
      { cause: error },
    )
  }
}

function patternsFrom(value: unknown, claim: string): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw unauthorized(`token claim ${claim} must be an array of topic patterns`)
  }
  for (const pattern of value as string[]) {
    if (pattern === '*') continue
    try {
      assertValidTopicPattern(pattern)
    } catch (error) {
      throw unauthorized(`token claim ${claim}: ${(error as Error).message}`, error)
    }
  }
  return value as string[]
}

function claimsOf(payload: JWTPayload): { publish: string[]; subscribe: string[]; admin: boolean } {
  const publish: string[] = []
  const subscribe: string[] = []
  let admin = payload['herald.admin'] === true
  for (const name of ['herald']) {
    const claim = payload[name]
    if (claim === undefined) continue
    if (claim === null || typeof claim !== 'object' || Array.isArray(claim)) {
      throw unauthorized(`token claim ${name} must be an object`)
    }
    const c = claim as Record<string, unknown>
    if (name === 'herald' && c.admin === true) admin = true
    publish.push(...patternsFrom(c.publish, `${name}.publish`))
    subscribe.push(...patternsFrom(c.subscribe, `${name}.subscribe`))
  }
  publish.push(...patternsFrom(payload['herald.publish'], 'herald.publish'))
  subscribe.push(...patternsFrom(payload['herald.subscribe'], 'herald.subscribe'))
  // Copies of their exact length: a pushed-to array keeps room for 17 (150 bytes), and a
  // principal lives as long as its subscribers and the token cache.
  return { publish: publish.slice(), subscribe: subscribe.slice(), admin }
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue
    const value = part.slice(eq + 1).trim()
    try {
      return decodeURIComponent(value)
    } catch {
      return value
    }
  }
  return undefined
}

/**
 * jose, imported on the first token verified or minted: a hub with auth off never loads it
 * (about 1 MiB of heap and its 46 modules). Every configuration error is still thrown by
 * {@link createAuthenticator} itself, before any token is seen.
 */
let jose: Promise<typeof import('jose')> | undefined
const loadJose = () => {
  jose ??= import('jose')
  return jose
}

/**
 * Creates the hub's {@link Authenticator}. `now` is the clock for token expiry (tests).
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG` for an unusable key or URL.
 */
export function createAuthenticator(
  options: AuthOptions = {},
  now: () => number = Date.now,
): Authenticator {
  const secret =
    options.jwtSecret === undefined || options.jwtSecret === ''
      ? undefined
      : new TextEncoder().encode(options.jwtSecret)
  const publicKey =
    options.jwtPublicKey === undefined || options.jwtPublicKey === ''
      ? undefined
      : importPublicKey(options.jwtPublicKey)
  const publicAlgorithms = publicKey === undefined ? [] : algorithmsOf(publicKey)
  let jwksUrl: URL | undefined
  if (options.jwksUrl !== undefined && options.jwksUrl !== '') {
    try {
      jwksUrl = new URL(options.jwksUrl)
    } catch (error) {
      throw new HeraldError('HERALD_INVALID_CONFIG', `jwksUrl: not a URL: ${options.jwksUrl}`, {
        cause: error,
      })
    }
  }
  // The remote key set, made with jose on the first verification (see loadJose).
  let jwks: RemoteJWKSet | undefined
  const enabled = secret !== undefined || publicKey !== undefined || jwksUrl !== undefined
  const algorithms = [
    ...(secret === undefined ? [] : HMAC),
    ...(jwksUrl === undefined ? publicAlgorithms : ASYMMETRIC),
  ]
  const cookieName = options.cookieName ?? 'heraldAuthorization'
  const anonymousSubscribe = options.anonymousSubscribe ?? true

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const alg = header.alg ?? ''
    if (HMAC.includes(alg)) {
      if (secret !== undefined) return secret
    } else if (publicKey !== undefined && publicAlgorithms.includes(alg)) {
      return publicKey
    } else if (jwks !== undefined) {
      return jwks(header, token)
    }
    throw unauthorized(`token algorithm ${alg} is not accepted by this hub`)
  }

  // The last Authorization header read and its token: a publisher sends the same header on
  // every request, so its token is the same string (its hash, for the cache, computed once).
  let lastHeader: string | undefined
  let lastFound: { token: string; from: 'header' } | undefined

  function tokenOf(
    source: TokenSource,
  ): { readonly token: string; readonly from: 'header' | 'cookie' | 'query' } | undefined {
    const header = source.header('authorization')
    if (header !== undefined && header !== '') {
      if (header === lastHeader && lastFound !== undefined) return lastFound
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
      if (match?.[1] === undefined) {
        throw unauthorized('Authorization header must be "Bearer <token>"')
      }
      lastHeader = header
      lastFound = { token: match[1], from: 'header' }
      return lastFound
    }
    // Mercure's precedence: the Authorization header, else the query parameter (when enabled),
    // else the cookie. The others are ignored, never merged.
    if (options.queryToken === true) {
      const fromQuery = source.url.searchParams.get('authorization')
      if (fromQuery !== null && fromQuery !== '') return { token: fromQuery, from: 'query' }
    }
    const cookies = source.header('cookie')
    const fromCookie =
      cookie(cookies, cookieName) ??
      cookie(cookies, 'mercureAuthorization') ??
      cookie(cookies, '__Secure-mercure_access_token')
    if (fromCookie !== undefined && fromCookie !== '') return { token: fromCookie, from: 'cookie' }
    return undefined
  }

  const tolerance = options.clockToleranceSeconds ?? 0
  const verifyOptions = {
    algorithms,
    ...(options.audience === undefined ? {} : { audience: [options.audience].flat() }),
    ...(options.issuer === undefined ? {} : { issuer: [options.issuer].flat() }),
    clockTolerance: tolerance,
  }
  const cache = createTokenCache(options.tokenCache, now)
  // The key set the cached tokens were verified against (JWKS only): jose replaces it when
  // it refetches, and a changed set (a key rotated out or revoked) empties the cache.
  let keySet: string | undefined
  const keySetNow = () => (jwks === undefined ? undefined : JSON.stringify(jwks.jwks() ?? null))

  async function verify(token: string, base: string): Promise<Omit<Principal, 'tokenFrom'>> {
    let payload: JWTPayload
    const { createRemoteJWKSet, jwtVerify } = await loadJose()
    if (jwksUrl !== undefined && jwks === undefined) {
      jwks = createRemoteJWKSet(jwksUrl, { timeoutDuration: 5000, cooldownDuration: 30_000 })
    }
    try {
      const verified = await jwtVerify(token, getKey, {
        ...verifyOptions,
        currentDate: new Date(now()),
      })
      payload = verified.payload
    } catch (error) {
      if (error instanceof HeraldError) throw error
      throw unauthorized(`invalid token: ${describeJoseError(error)}`, error)
    } finally {
      if (jwks !== undefined) {
        const current = keySetNow()
        if (current !== keySet) {
          cache.clear()
          keySet = current
        }
      }
    }
    const { publish, subscribe, admin } = claimsOf(payload)
    return {
      authenticated: true,
      subject: payload.sub,
      token,
      publish,
      subscribe,
      admin,
      expiresAt: payload.exp === undefined ? undefined : payload.exp * 1000,
      // Relative URL patterns resolve against the hub's URL (of the first request seen with
      // this token: the cache keys by token).
      mercure: mercureGrantsOf(payload, base),
    }
  }

  return {
    enabled,
    anonymousSubscribe,
    get cachedTokens() {
      return cache.size
    },
    authenticateNow(source) {
      if (!enabled) return ANONYMOUS
      const found = tokenOf(source)
      if (found === undefined) return ANONYMOUS
      // A stale JWKS means jose would refetch it on this verification: go through it, so a
      // key removed from the set stops working as it would without the cache.
      return jwks === undefined || jwks.fresh ? cache.get(found.token, found.from) : undefined
    },
    async authenticate(source) {
      if (!enabled) return ANONYMOUS
      const found = tokenOf(source)
      if (found === undefined) return ANONYMOUS
      const { token, from } = found
      const cached = jwks === undefined || jwks.fresh ? cache.get(token, from) : undefined
      if (cached !== undefined) return cached
      const principal = withSource(
        await verify(token, new URL('/.well-known/mercure', source.url).href),
        from,
      )
      // jose refuses once `exp <= now - tolerance` (in whole seconds), so the token is
      // good until (exp + tolerance) seconds; no `exp`: until evicted or the keys change.
      const exp = principal.expiresAt
      cache.set(
        token,
        principal,
        exp === undefined ? Number.POSITIVE_INFINITY : exp + tolerance * 1000,
      )
      return principal
    },
  }
}

type TokenFrom = NonNullable<Principal['tokenFrom']>

/** A principal that knows where its token came from. */
type SourcedPrincipal = Principal & { readonly tokenFrom: TokenFrom }

/**
 * `principal` as presented `from` somewhere. Written out field by field rather than spread:
 * V8 gave every spread copy (one per subscriber with a token of its own) a hidden class of its
 * own and `tokenFrom` an out-of-object property store, about 350 bytes; this literal has one
 * shape for all, every field in the object (96 bytes).
 */
function withSource(principal: Omit<Principal, 'tokenFrom'>, from: TokenFrom): SourcedPrincipal {
  return {
    authenticated: principal.authenticated,
    subject: principal.subject,
    token: principal.token,
    publish: principal.publish,
    subscribe: principal.subscribe,
    admin: principal.admin,
    expiresAt: principal.expiresAt,
    mercure: principal.mercure,
    tokenFrom: from,
  } satisfies Record<keyof Principal, unknown>
}

interface TokenCache {
  readonly size: number
  /** The principal of a valid cached `token`, as presented `from` there. */
  get(token: string, from: TokenFrom): Principal | undefined
  /** Caches `principal` (with its `tokenFrom`) for `token`. */
  set(token: string, principal: SourcedPrincipal, validUntil: number): void
  clear(): void
}

/**
 * A cached token: its principal once per place it came from, made when first seen there (the
 * one verified first is the one authenticate returned, not a copy of it).
 */
interface TokenEntry {
  validUntil: number
  header: Principal | undefined
  cookie: Principal | undefined
  query: Principal | undefined
}

/**
 * The bounded cache of verified tokens. Hand-written (a Map in insertion order) rather than
 * an LRU package: it sits on every authenticated request, needs an absolute per-entry
 * deadline from the token's own `exp` on the hub's clock, and a character budget; insertion
 * order is close enough to recency for tokens that are re-sent constantly.
 */
function createTokenCache(options: AuthOptions['tokenCache'], now: () => number): TokenCache {
  const maxEntries = options === false ? 0 : (options?.maxEntries ?? 10_000)
  const maxChars = options === false ? 0 : (options?.maxChars ?? 8 * 1024 * 1024)
  for (const [name, value] of [
    ['maxEntries', maxEntries],
    ['maxChars', maxChars],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new HeraldError(
        'HERALD_INVALID_CONFIG',
        `auth.tokenCache.${name} must be a non-negative integer, got ${value}`,
      )
    }
  }
  const entries = new Map<string, TokenEntry>()
  let chars = 0
  const remove = (token: string) => {
    if (entries.delete(token)) chars -= token.length
  }
  return {
    get size() {
      return entries.size
    },
    get(token, from) {
      const entry = entries.get(token)
      if (entry === undefined) return undefined
      if (now() < entry.validUntil) {
        // Principals are read-only: one object per token and place, not a copy per request.
        const found = entry[from]
        if (found !== undefined) return found
        const any = (entry.header ?? entry.cookie ?? entry.query) as Principal
        const view = withSource(any, from)
        entry[from] = view
        return view
      }
      remove(token)
      return undefined
    },
    set(token, principal, validUntil) {
      if (maxEntries === 0 || token.length > maxChars || !(now() < validUntil)) return
      remove(token)
      const entry: TokenEntry = {
        validUntil,
        header: undefined,
        cookie: undefined,
        query: undefined,
      }
      entry[principal.tokenFrom] = principal
      entries.set(token, entry)
      chars += token.length
      // Oldest first: the Map iterates in insertion order.
      for (const oldest of entries.keys()) {
        if (entries.size <= maxEntries && chars <= maxChars) break
        remove(oldest)
      }
    },
    clear() {
      entries.clear()
      chars = 0
    },
  }
}

function describeJoseError(error: unknown): string {
  const code = (error as { code?: unknown }).code
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired'
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature verification failed'
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm not allowed'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return (error as Error).message
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no matching key in the JWKS'
    default:
      return (error as Error).message || 'malformed'
  }
}

/** Options of {@link mintToken}. */
export interface MintTokenOptions {
  /** HS256 secret. */
  secret: string
  /** Patterns the token may publish to. */
  publish?: readonly string[] | undefined
  /** Patterns the token may subscribe to. */
  subscribe?: readonly string[] | undefined
  /** Lifetime in seconds. Default 3600; 0 means no `exp`. */
  ttlSeconds?: number | undefined
  /** `sub` claim. */
  subject?: string | undefined
  /** `aud` claim. */
  audience?: string | undefined
  /** Grant the admin views (`herald.admin`). Default `false`. */
  admin?: boolean | undefined
}

/**
 * Mints an HS256 token with a `herald` claim: for development and tests (`herald token`).
 * Production tokens come from your identity provider.
 */
export async function mintToken(options: MintTokenOptions): Promise<string> {
  for (const p of [...(options.publish ?? []), ...(options.subscribe ?? [])]) {
    if (p !== '*') assertValidTopicPattern(p)
  }
  const { SignJWT } = await loadJose()
  const jwt = new SignJWT({
    herald: {
      publish: [...(options.publish ?? [])],
      subscribe: [...(options.subscribe ?? [])],
      ...(options.admin === true ? { admin: true } : {}),
    },
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
  const ttl = options.ttlSeconds ?? 3600
  if (ttl > 0) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
  if (options.subject !== undefined) jwt.setSubject(options.subject)
  if (options.audience !== undefined) jwt.setAudience(options.audience)
  return jwt.sign(new TextEncoder().encode(options.secret))
}
