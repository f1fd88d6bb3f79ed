/**
 * Reads the dashboard's built files (`npm run build` puts them in `dist/dashboard/` of this
 * package) into memory once at startup: the hub serves them from there, with no build and no
 * file read at request time.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { DashboardAsset } from '@herald/hub'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
}

/** Where the build puts the dashboard, beside the compiled CLI. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url))

/**
 * The files under `dir` by URL path (`/index.html`, `/dashboard/index-abc.js`), or
 * `undefined` when the dashboard was not built (the hub then answers `/` with JSON).
 */
export function loadDashboardAssets(dir = DASHBOARD_DIR): Map<string, DashboardAsset> | undefined {
  try {
    if (!statSync(join(dir, 'index.html')).isFile()) return undefined
  } catch {
    return undefined
  }
  const assets = new Map<string, DashboardAsset>()
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name)
      if (entry.isDirectory()) {
        walk(path)
        continue
      }
      const type = TYPES[extname(entry.name)]
      if (type === undefined) continue
      const url = `/${relative(dir, path).split(sep).join('/')}`
      assets.set(url, { body: readFileSync(path, 'utf8'), contentType: type })
    }
  }
  walk(dir)
  return assets
}
