// A scriptable stand-in for the loglens ingest API on 127.0.0.1 (random port).
import http from 'node:http';
import { gunzipSync } from 'node:zlib';

const BATCH_PATH = '/api/v1/logs/batch';

/**
 * Each request to the batch endpoint takes the next scripted step, or answers 200 when the script is empty.
 * A step is {status, headers, body}, 'hang' (never answer), 'reset' (drop the connection), or a function of the
 * request returning a step.
 */
export async function startFakeIngest() {
  const requests = [];
  const script = [];
  const waiters = new Set();
  const server = http.createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'content-type, x-api-key, content-encoding');
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'POST' || new URL(req.url, 'http://x').pathname !== BATCH_PATH) {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const text = raw.toString('utf8');
      let logs = [];
      try {
        logs = JSON.parse(text).logs ?? [];
      } catch {
        logs = [];
      }
      const entry = { at: Date.now(), url: req.url, headers: req.headers, bytes: chunks.reduce((n, c) => n + c.length, 0), logs, status: undefined };
      requests.push(entry);
      let step = script.length > 0 ? script.shift() : { status: 200 };
      if (typeof step === 'function') step = step(entry) ?? { status: 200 };
      if (step === 'hang') return;
      if (step === 'reset') {
        req.socket.destroy();
        return;
      }
      entry.status = step.status;
      const body = step.body ?? (step.status === 200 ? { accepted: logs.length, rejected: [] } : { error: `scripted ${step.status}` });
      res.writeHead(step.status, { 'Content-Type': 'application/json', ...(step.headers ?? {}) });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
      for (const waiter of waiters) waiter();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  const api = {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** Forget requests and unused steps. */
    reset() {
      requests.length = 0;
      script.length = 0;
    },
    /** Queue steps for the next requests. */
    respond(...steps) {
      script.push(...steps);
    },
    /** Records in requests answered with 2xx, in arrival order. */
    delivered() {
      return requests.filter((r) => r.status >= 200 && r.status < 300).flatMap((r) => r.logs);
    },
    /** Resolves once predicate(api) is true; rejects after timeoutMs with what was seen. */
    waitFor(predicate, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(api)) return false;
          clearTimeout(timer);
          clearInterval(poll);
          waiters.delete(check);
          resolve();
          return true;
        };
        const timer = setTimeout(() => {
          clearInterval(poll);
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms; requests seen: ${requests.length}, statuses: ${requests.map((r) => r.status)}`));
        }, timeoutMs);
        const poll = setInterval(check, 20);
        waiters.add(check);
        check();
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return api;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Options that keep the client quiet and fast under test. */
export function quickOptions(url, overrides = {}) {
  return {
    logServerUrl: url,
    service: 'test-service',
    environment: 'test',
    batchSize: 100,
    flushIntervalMs: 60_000,
    retryBaseMs: 10,
    retryMaxMs: 100,
    requestTimeoutMs: 2000,
    ...overrides,
  };
}
