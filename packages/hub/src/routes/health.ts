/**
 * `GET /healthz` (the process answers) and `GET /readyz` (it can serve: not draining, the
 * store answers, the node reads the log). A 503 names why: `HERALD_DRAINING` or
 * `HERALD_STORE_UNAVAILABLE`.
 */
import { errorResponse, fail, json } from '../http-io.js'
import type { RouteFactory } from './route.js'

/** `/healthz` and `/readyz`. */
export const healthRoutes: RouteFactory = (ctx) => ({
  routes: [
    { path: '/healthz', methods: { GET: async () => json(200, { status: 'ok' }) } },
    {
      path: '/readyz',
      methods: {
        async GET() {
          const readiness = await ctx.readiness()
          return readiness.ok
            ? json(200, { status: 'ready' })
            : errorResponse(fail(readiness.code, 503, readiness.message))
        },
      },
    },
  ],
})
