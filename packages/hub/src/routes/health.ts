/** `GET /healthz` (the process answers) and `GET /readyz` (it can serve: store up, not draining). */
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
          return (await ctx.ready())
            ? json(200, { status: 'ready' })
            : errorResponse(
                fail(
                  'HERALD_STORE_UNAVAILABLE',
                  503,
                  'the event store is not reachable or the hub is draining',
                ),
              )
        },
      },
    },
  ],
})
