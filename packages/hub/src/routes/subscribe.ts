/**
 * `GET /events?topic=T[&topic=T2...]`: who may subscribe to what. The stream acceptor
 * serves the authorized subscription on whichever transport the request came by.
 */
import { assertValidTopicPattern, isTopicPattern } from '@herald/store'
import { canSubscribe } from '../auth.js'
import type { HubContext } from '../context.js'
import type { HubRequest } from '../http-io.js'
import { fail } from '../http-io.js'
import type { RouteFactory, Subscription } from './route.js'

/**
 * Authorizes a subscription to the request's `topic` parameters.
 *
 * @throws {HeraldError} `HERALD_INVALID_TOPIC` (400), `HERALD_UNAUTHORIZED` (401),
 * `HERALD_FORBIDDEN` (403).
 */
export async function authorizeSubscribe(ctx: HubContext, req: HubRequest): Promise<Subscription> {
  const { auth } = ctx
  const topics = req.url.searchParams.getAll('topic')
  if (topics.length === 0) {
    throw fail('HERALD_INVALID_TOPIC', 400, 'name at least one topic: /events?topic=orders/*')
  }
  if (topics.length > ctx.maxTopicsPerSubscription) {
    throw fail(
      'HERALD_INVALID_TOPIC',
      400,
      `at most ${ctx.maxTopicsPerSubscription} topics per subscription`,
    )
  }
  let wildcards = 0
  for (const topic of topics) {
    assertValidTopicPattern(topic)
    if (isTopicPattern(topic)) wildcards++
  }
  if (wildcards > ctx.maxPatternsPerSubscription) {
    throw fail(
      'HERALD_INVALID_TOPIC',
      400,
      `at most ${ctx.maxPatternsPerSubscription} wildcard patterns per subscription (${wildcards} given)`,
    )
  }
  const principal = await auth.authenticate({ header: (name) => req.header(name), url: req.url })
  if (auth.enabled && !principal.authenticated) {
    if (!auth.anonymousSubscribe)
      throw fail('HERALD_UNAUTHORIZED', 401, 'a token is required to subscribe')
  }
  if (principal.authenticated) {
    for (const topic of topics) {
      if (!canSubscribe(principal, topic)) {
        throw fail(
          'HERALD_FORBIDDEN',
          403,
          `the token does not grant subscribing to ${JSON.stringify(topic)}`,
        )
      }
    }
  }
  return { topics: [...new Set(topics)], principal }
}

/** `GET /events`. */
export const subscribeRoutes: RouteFactory = (ctx) => ({
  streams: [{ path: '/events', subscribe: (req) => authorizeSubscribe(ctx, req) }],
})
