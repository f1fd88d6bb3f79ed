/** `GET /openapi.json`: the hub's HTTP API as OpenAPI 3.1, with this hub as its server. */
import { json } from '../http-io.js'
import { OPENAPI_DOCUMENT } from '../openapi.js'
import type { RouteFactory } from './route.js'

/** `/openapi.json`. */
export const openapiRoutes: RouteFactory = () => ({
  routes: [
    {
      path: '/openapi.json',
      methods: {
        async GET(req) {
          return json(200, { ...OPENAPI_DOCUMENT, servers: [{ url: req.url.origin }] })
        },
      },
    },
  ],
})
