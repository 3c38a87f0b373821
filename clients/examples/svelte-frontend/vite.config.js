import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig, loadEnv, searchForWorkspaceRoot } from 'vite';

const client = fileURLToPath(new URL('../../javascript', import.meta.url));

export default defineConfig(({ mode }) => {
  // Fail at start-up, not in the browser, when the page would not know where to send its logs.
  const env = loadEnv(mode, process.cwd(), 'VITE_LOGLENS_');
  const missing = ['VITE_LOGLENS_URL', 'VITE_LOGLENS_API_KEY'].filter((name) => !env[name]);
  if (missing.length) {
    throw new Error(`set ${missing.join(' and ')} (e.g. VITE_LOGLENS_URL=http://127.0.0.1:8000 VITE_LOGLENS_API_KEY=<key from loglens dev>)`);
  }
  return {
    plugins: [svelte()],
    // @loglens/client is linked from clients/javascript, outside this folder: let the dev server read it.
    server: { fs: { allow: [searchForWorkspaceRoot(process.cwd()), client] } },
  };
});
