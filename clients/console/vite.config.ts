import { configDefaults, defineConfig } from 'vitest/config';

// Preact's JSX through Vite's own transformer: no framework plugin to install or keep up to date.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  // Relative asset paths: the same build works at / (loglens dev, CloudFront) or under any prefix.
  base: './',
  build: {
    target: 'es2022',
    // One small bundle: the size check in scripts/size.mjs reads every file in dist/assets.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    // `npm run dev` against `loglens dev`: the API on :8000, the console with hot reload on Vite's port.
    proxy: { '/api': 'http://127.0.0.1:8000', '/config.json': 'http://127.0.0.1:8000' },
  },
  test: {
    environment: 'happy-dom',
    include: ['test/**/*.test.{ts,tsx}'],
    // The flow against a real `loglens dev` runs when tests/e2e/test_console_browser.py starts one and says where.
    exclude: process.env.LOGLENS_E2E_CONSOLE_URL ? configDefaults.exclude : [...configDefaults.exclude, 'test/e2e/real/**'],
    testTimeout: 20_000,
  },
});
