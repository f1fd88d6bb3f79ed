#!/usr/bin/env node
// Builds the @herald/client browser bundle the way an app bundler would (esbuild, minified
// ESM, @herald/protocol bundled in), gzips it, prints the sizes, and exits 1 when the gzip
// size is over the budget. `npm run size:client`; also run by packages/client/test/size.test.ts.
// `--out FILE` also writes the bundle.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const BUDGET = 5 * 1024
const path = (relative) => fileURLToPath(new URL(`../${relative}`, import.meta.url))

const result = await build({
  entryPoints: [path('packages/client/src/index.ts')],
  // From source, so the check does not depend on a fresh `tsc -b` of the protocol.
  alias: { '@herald/protocol': path('packages/protocol/src/index.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'silent',
})
const bundle = result.outputFiles[0].contents
const gzip = gzipSync(bundle, { level: 9 }).length
const out = process.argv.indexOf('--out')
if (out !== -1 && process.argv[out + 1]) writeFileSync(process.argv[out + 1], bundle)
console.log(
  `@herald/client browser bundle: ${bundle.length} B minified, ${gzip} B gzip (budget ${BUDGET} B)`,
)
if (gzip > BUDGET) {
  console.error(`@herald/client: bundle is ${gzip - BUDGET} B over the ${BUDGET} B gzip budget`)
  process.exit(1)
}
