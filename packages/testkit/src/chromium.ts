/**
 * Debian's Chromium, driven by playwright-core, with the flags this machine needs (no
 * sandbox as root, and no background networking: the network is closed).
 */
import { type Browser, chromium } from 'playwright-core'

/** Path of Debian's `chromium` package. */
export const CHROMIUM_PATH = '/usr/bin/chromium'

/** Launch flags: headless, no sandbox, nothing that phones home. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

/** Launches headless Chromium for a browser test; close it in `afterAll`. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] })
}
