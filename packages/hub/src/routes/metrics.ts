/** `GET /metrics`: Prometheus text format. */
import type { RouteFactory } from './route.js'

/** `/metrics`. */
export const metricsRoutes: RouteFactory = (ctx) => ({
  routes: [
    {
      path: '/metrics',
      methods: {
        async GET(req) {
          // It names topics: behind the admin gate whenever there is one.
          await ctx.admin.require(req)
          return {
            status: 200,
            headers: { 'content-type': ctx.metrics.registry.contentType },
            body: await ctx.metricsText(),
          }
        },
      },
    },
  ],
})
