/**
 * Mercure compatibility at `/.well-known/mercure`: `GET` subscribes (with Mercure's
 * `lastEventID` alias for the cursor), `POST` publishes a form-encoded update.
 */
import { mercureCursorUrl } from '../http-io.js'
import { createPublishHandler, PUBLISH_PREFLIGHT } from './publish.js'
import type { RouteFactory } from './route.js'
import { authorizeSubscribe } from './subscribe.js'

/** The Mercure hub path. */
export const MERCURE_PATH = '/.well-known/mercure'

/** `GET` and `POST /.well-known/mercure`. */
export const mercureRoutes: RouteFactory = (ctx) => {
  const publish = createPublishHandler(ctx)
  return {
    routes: [
      {
        path: MERCURE_PATH,
        methods: { POST: (req) => publish(req, 'form') },
        preflight: PUBLISH_PREFLIGHT,
      },
    ],
    streams: [
      {
        path: MERCURE_PATH,
        subscribe: (req) => authorizeSubscribe(ctx, req),
        rewrite: mercureCursorUrl,
      },
    ],
  }
}
