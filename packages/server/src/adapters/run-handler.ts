/**
 * Runs an application's session handler so that its bugs stay inside that session: a throw or
 * a rejected promise closes the session with reason `error` (logged), never the server.
 */
import { failSession } from '../session.js'
import type { Session } from '../types.js'

/** An application callback for a freshly opened session. */
export type SessionHandler<Context> = (session: Session, context: Context) => void | Promise<void>

/** @internal */
export function runHandler<Context>(
  handler: SessionHandler<Context> | undefined,
  session: Session,
  context: Context,
): void {
  if (handler === undefined) return
  try {
    const result = handler(session, context)
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      ;(result as Promise<void>).then(undefined, (error: unknown) => failSession(session, error))
    }
  } catch (error) {
    failSession(session, error)
  }
}
