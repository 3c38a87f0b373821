// Runs a page that uses the built client in headless Chromium. The page is served by its own node:http server;
// the records go to whatever logServerUrl says (the fake ingest by default, the real loglens server when asked).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** The Chromium binary, or undefined: $CHROMIUM_BIN, then the names Debian and others install. */
export function findChromium() {
  const candidates = [process.env.CHROMIUM_BIN, 'chromium', 'chromium-browser', 'google-chrome'].filter(Boolean);
  for (const name of candidates) {
    const found = spawnSync('sh', ['-c', `command -v "$0"`, name], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  return undefined;
}

/** What the page logs, for checks: messages the app logs itself plus the two it provokes. */
export const EXPECTED_MESSAGES = ['e2e info', 'e2e warn', 'e2e error with fields', 'e2e uncaught boom', 'e2e rejected'];

function pageHtml(config) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>loglens e2e</title></head>
<body><p>loglens e2e</p>
<script type="module">
import { LogHelper } from '/dist/index.js';
const config = ${JSON.stringify(config)};
const logger = new LogHelper({ ...config, environment: 'e2e', flushIntervalMs: 500, retryBaseMs: 100, retryMaxMs: 1000 });
logger.info('e2e info', { action_type: 'page_load', metadata: { run_id: config.runId } });
logger.warn('e2e warn');
logger.error('e2e error with fields', { error: new TypeError('typed failure'), http_status_code: 502 });
setTimeout(() => { throw new Error('e2e uncaught boom'); }, 0);
Promise.reject(new RangeError('e2e rejected'));
setTimeout(async () => {
  await logger.flush();
  await fetch('/done', { method: 'POST', body: JSON.stringify(logger.stats()) });
}, 300);
</script></body></html>`;
}

/**
 * Serves the page, starts Chromium on it and resolves with the client's stats once the page has flushed.
 * Rejects (with Chromium's output) when the page does not report back within timeoutMs.
 */
export async function runBrowserScenario({ chromium, logServerUrl, apiKey, service, runId, timeoutMs = 45_000 }) {
  let reportDone;
  const done = new Promise((resolve) => {
    reportDone = resolve;
  });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://page');
    if (url.pathname === '/e2e.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(pageHtml({ logServerUrl, apiKey, service, runId }));
      return;
    }
    if (url.pathname === '/done' && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        res.writeHead(204).end();
        reportDone(JSON.parse(body));
      });
      return;
    }
    const file = path.join(DIST, path.normalize(url.pathname.replace(/^\/dist\//, '')));
    if (url.pathname.startsWith('/dist/') && file.startsWith(DIST) && file.endsWith('.js')) {
      try {
        const source = readFileSync(file);
        res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
        res.end(source);
        return;
      } catch {
        // fall through to 404
      }
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pageUrl = `http://127.0.0.1:${server.address().port}/e2e.html`;

  const profile = mkdtempSync(path.join(tmpdir(), 'loglens-chromium-'));
  const browser = spawn(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      `--user-data-dir=${profile}`,
      '--remote-debugging-port=0',
      '--window-size=1280,800',
      '--enable-logging=stderr',
      '--v=0',
      pageUrl,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  browser.stdout.on('data', (chunk) => (output += chunk));
  browser.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => browser.on('exit', resolve));

  let timer;
  try {
    const outcome = await Promise.race([
      done,
      exited.then((code) => {
        throw new Error(`chromium exited early with ${code}:\n${output.slice(-4000)}`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the page did not report back within ${timeoutMs} ms; chromium said:\n${output.slice(-4000)}`)),
          timeoutMs,
        );
      }),
    ]);
    return { stats: outcome, pageUrl, browserOutput: () => output };
  } finally {
    clearTimeout(timer);
    await stopBrowser(browser, exited);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(profile, { recursive: true, force: true });
  }
}

async function stopBrowser(browser, exited) {
  if (browser.exitCode === null && browser.signalCode === null) {
    browser.kill('SIGTERM');
    let timer;
    const stopped = await Promise.race([
      exited.then(() => true),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(false), 5000);
      }),
    ]);
    clearTimeout(timer);
    if (!stopped) signalGroup(browser.pid, 'SIGKILL');
    await exited;
  }
  // Chromium's helper processes share the process group created for it and hold its output pipes.
  signalGroup(browser.pid, 'SIGKILL');
  browser.stdout.destroy();
  browser.stderr.destroy();
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}
