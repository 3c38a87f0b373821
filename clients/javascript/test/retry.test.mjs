import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { LogHelper } from '../dist/index.js';
import { quickOptions, startFakeIngest } from './support/fake-ingest.mjs';

let server;
before(async () => {
  server = await startFakeIngest();
});
after(() => server.close());
beforeEach(() => {
  server.reset();
});

const ids = (request) => request.logs.map((r) => r.event_id);

test('5xx answers are retried with the same event_ids until accepted', async (t) => {
  t.mock.method(console, 'warn', () => {});
  server.respond({ status: 500 }, { status: 502 }, { status: 503 });
  const logger = new LogHelper(quickOptions(server.url));
  logger.info('a');
  logger.info('b');
  await logger.flush();
  await logger.destroy();
  assert.deepEqual(server.requests.map((r) => r.status), [500, 502, 503, 200]);
  for (const request of server.requests) assert.deepEqual(ids(request), ids(server.requests[0]));
  assert.equal(logger.stats().retries, 3);
  assert.equal(logger.stats().sent, 2);
});

test('503 with Retry-After is honoured before the next attempt', async () => {
  server.respond({ status: 503, headers: { 'Retry-After': '1' } });
  const logger = new LogHelper(quickOptions(server.url, { retryMaxMs: 5000 }));
  logger.info('later');
  await logger.flush();
  await logger.destroy();
  const [first, second] = server.requests;
  assert.equal(second.status, 200);
  assert.ok(second.at - first.at >= 950, `waited only ${second.at - first.at} ms`);
  assert.deepEqual(ids(second), ids(first));
});

test('429 with a Retry-After beyond retryMaxMs postpones the batch instead of waiting in place', async () => {
  server.respond({ status: 429, headers: { 'Retry-After': '2' } });
  const logger = new LogHelper(quickOptions(server.url, { retryMaxMs: 100 }));
  logger.info('throttled');
  const started = Date.now();
  await logger.flush();
  assert.ok(Date.now() - started < 1000, 'flush() does not block on a long Retry-After');
  await logger.flush();
  assert.equal(server.requests.length, 1, 'no request before Retry-After has passed');
  assert.equal(logger.stats().pendingBatches, 1);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  await logger.flush();
  await logger.destroy();
  assert.deepEqual(server.requests.map((r) => r.status), [429, 200]);
  assert.deepEqual(ids(server.requests[1]), ids(server.requests[0]));
});

test('a dropped connection is retried', async (t) => {
  t.mock.method(console, 'warn', () => {});
  server.respond('reset', 'reset');
  const logger = new LogHelper(quickOptions(server.url));
  logger.info('over a bad network');
  await logger.flush();
  await logger.destroy();
  assert.equal(server.requests.length, 3);
  assert.equal(server.delivered().length, 1);
  assert.equal(logger.stats().sent, 1);
});

test('a hanging server is given up on after requestTimeoutMs and retried', async () => {
  server.respond('hang');
  const logger = new LogHelper(quickOptions(server.url, { requestTimeoutMs: 200 }));
  logger.info('patience');
  const started = Date.now();
  await logger.flush();
  await logger.destroy();
  assert.ok(Date.now() - started >= 200);
  assert.equal(server.requests.length, 2);
  assert.deepEqual(ids(server.requests[1]), ids(server.requests[0]));
  assert.equal(server.delivered()[0].message, 'patience');
});

for (const status of [400, 401, 403, 415]) {
  test(`HTTP ${status} is not retried and is reported once`, async (t) => {
    const warn = t.mock.method(console, 'warn', () => {});
    server.respond({ status, body: { detail: `scripted ${status}` } });
    const logger = new LogHelper(quickOptions(server.url));
    logger.info('refused');
    await logger.flush();
    await logger.flush();
    await logger.destroy();
    assert.equal(server.requests.length, 1);
    assert.equal(warn.mock.callCount(), 1);
    assert.match(String(warn.mock.calls[0].arguments[0]), new RegExp(`HTTP ${status}.*scripted ${status}`));
    assert.equal(logger.stats().rejected, 1);
    assert.equal(logger.stats().pendingBatches, 0);
  });
}

test('records rejected inside a 200 answer are reported once and not retried', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  server.respond((request) => ({
    status: 200,
    body: { accepted: request.logs.length - 1, rejected: [{ index: 1, errors: ['level: not a level'] }] },
  }));
  const logger = new LogHelper(quickOptions(server.url));
  logger.info('good');
  logger.info('bad');
  logger.info('good too');
  await logger.flush();
  await logger.destroy();
  assert.equal(server.requests.length, 1);
  assert.equal(warn.mock.callCount(), 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), /rejected 1 of 3.*#1.*not a level/);
  assert.deepEqual(logger.stats(), { queued: 0, pendingBatches: 0, sent: 2, dropped: 0, rejected: 1, retries: 0 });
});

test('413 splits the batch in halves until it fits', async (t) => {
  t.mock.method(console, 'warn', () => {});
  const atMostTwo = (request) => (request.logs.length > 2 ? { status: 413 } : { status: 200 });
  server.respond(...Array(7).fill(atMostTwo));
  const logger = new LogHelper(quickOptions(server.url));
  for (let i = 0; i < 8; i++) logger.info(`r${i}`);
  await logger.flush();
  await logger.destroy();
  assert.deepEqual(server.requests.map((r) => r.logs.length), [8, 4, 2, 2, 4, 2, 2]);
  assert.deepEqual(server.delivered().map((r) => r.message), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
  assert.equal(new Set(server.delivered().map((r) => r.event_id)).size, 8);
});

test('413 on a single record drops it with a report instead of looping', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  server.respond({ status: 413 });
  const logger = new LogHelper(quickOptions(server.url));
  logger.info('alone');
  await logger.flush();
  await logger.destroy();
  assert.equal(server.requests.length, 1);
  assert.equal(warn.mock.callCount(), 1);
  assert.equal(logger.stats().rejected, 1);
});

test('a batch that exhausts its retries is kept and delivered by a later flush with the same event_ids', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  server.respond({ status: 500 }, { status: 500 });
  const logger = new LogHelper(quickOptions(server.url, { maxRetries: 1 }));
  logger.info('persistent');
  await logger.flush();
  assert.equal(server.requests.length, 2);
  assert.equal(logger.stats().pendingBatches, 1);
  assert.equal(warn.mock.callCount(), 1);
  logger.info('newer');
  await logger.flush();
  await logger.destroy();
  assert.deepEqual(server.requests.map((r) => r.status), [500, 500, 200, 200]);
  assert.deepEqual(ids(server.requests[2]), ids(server.requests[0]), 'the old batch goes first, unchanged');
  assert.deepEqual(server.delivered().map((r) => r.message), ['persistent', 'newer']);
});

test('a 415 to a gzip body switches to plain JSON and resends at once', async (t) => {
  t.mock.method(console, 'warn', () => {});
  server.respond((request) => (request.headers['content-encoding'] === 'gzip' ? { status: 415 } : { status: 200 }));
  const logger = new LogHelper(quickOptions(server.url));
  logger.info('z'.repeat(4000));
  await logger.flush();
  logger.info('z'.repeat(4000));
  await logger.flush();
  await logger.destroy();
  assert.deepEqual(
    server.requests.map((r) => [r.status, r.headers['content-encoding'] ?? 'plain']),
    [[415, 'gzip'], [200, 'plain'], [200, 'plain']],
  );
});

test('backoff uses full jitter under an exponential ceiling', async () => {
  const { backoffDelay, parseRetryAfter } = await import('../dist/backoff.js');
  assert.equal(backoffDelay(0, 100, 1000, () => 0.999), 99);
  assert.equal(backoffDelay(3, 100, 1000, () => 0.999), 799);
  assert.equal(backoffDelay(10, 100, 1000, () => 0.999), 999);
  assert.equal(backoffDelay(5, 100, 1000, () => 0), 0);
  assert.equal(parseRetryAfter('7'), 7000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 3000).toUTCString(), Date.now()) > 1000, true);
  assert.equal(parseRetryAfter('soon'), undefined);
});

test('gzip requests that get no answer while plain ones do (a CORS refusal) switch the client to plain JSON', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const seen = [];
  const corsLikeFetch = (url, init) => {
    const gzipped = init.headers['Content-Encoding'] === 'gzip';
    seen.push(gzipped ? 'gzip' : 'plain');
    if (gzipped) return Promise.reject(new TypeError('Failed to fetch'));
    return fetch(url, init);
  };
  const logger = new LogHelper(quickOptions(server.url, { fetch: corsLikeFetch }));
  logger.info('c'.repeat(3000));
  await logger.flush();
  logger.info('c'.repeat(3000));
  await logger.flush();
  await logger.destroy();
  assert.deepEqual(seen, ['gzip', 'plain', 'plain']);
  assert.equal(server.delivered().length, 2);
  assert.equal(logger.stats().retries, 0, 'the plain resend is not a backoff retry');
  assert.match(String(warn.mock.calls[0].arguments[0]), /Content-Encoding/);
});
