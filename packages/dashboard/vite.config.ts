import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// Built into the CLI package (`herald serve` serves these files at `/`): relative URLs, so the
// page also works when a proxy mounts the hub under a path; hashed assets under `dashboard/`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../cli/dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'dashboard',
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
})
