/**
 * Every route of the hub. To add one: write `routes/<feature>.ts` exporting a
 * `RouteFactory`, and list it here.
 */
import { blobRoutes } from './blobs.js'
import { dashboardRoutes } from './dashboard.js'
import { healthRoutes } from './health.js'
import { mercureRoutes } from './mercure.js'
import { metricsRoutes } from './metrics.js'
import { openapiRoutes } from './openapi.js'
import { publishRoutes } from './publish.js'
import type { RouteFactory } from './route.js'
import { schemaRoutes } from './schemas.js'
import { subscribeRoutes } from './subscribe.js'

/** The hub's route factories, in the order `GET /` lists them. */
export const ROUTES: readonly RouteFactory[] = [
  subscribeRoutes,
  publishRoutes,
  blobRoutes,
  schemaRoutes,
  mercureRoutes,
  healthRoutes,
  metricsRoutes,
  dashboardRoutes,
  openapiRoutes,
]
