import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

test('a full queue drops the oldest records and reports the count in the next batch once', async () => {
  const logger = new LogHelper(quickOptions(server.url, { maxQueue: 5 }));
  for (let i = 0; i < 8; i++) logger.info(`q${i}`);
  assert.equal(logger.stats().dropped, 3);
  await logger.flush();
  logger.info('after');
  await logger.flush();
  await logger.destroy();
  const [first, second] = server.requests;
  assert.deepEqual(first.logs.map((r) => r.message), ['q3', 'q4', 'q5', 'q6', 'q7']);
  assert.equal(first.logs[0].metadata.loglens_client_dropped, 3);
  assert.ok(first.logs.slice(1).every((r) => r.metadata === undefined));
  assert.equal(second.logs[0].metadata, undefined, 'the count is reported once');
});

test('the drop count joins existing metadata of the first record', async () => {
  const logger = new LogHelper(quickOptions(server.url, { maxQueue: 1 }));
  logger.info('lost');
  logger.info('kept', { metadata: { order_id: 9 } });
  await logger.flush();
  await logger.destroy();
  assert.deepEqual(server.delivered()[0].metadata, { order_id: 9, loglens_client_dropped: 1 });
});

test('the drop count survives a refused batch and rides on the next one', async (t) => {
  t.mock.method(console, 'warn', () => {});
  server.respond({ status: 400 });
  const logger = new LogHelper(quickOptions(server.url, { maxQueue: 2 }));
  for (let i = 0; i < 4; i++) logger.info(`d${i}`);
  await logger.flush();
  logger.info('next');
  await logger.flush();
  await logger.destroy();
  assert.equal(server.requests[0].status, 400);
  assert.equal(server.delivered()[0].metadata.loglens_client_dropped, 2);
});

test('during an outage the queue stays bounded; on recovery the kept batch goes first, then the count', async (t) => {
  t.mock.method(console, 'warn', () => {});
  server.respond({ status: 503 }, { status: 503 });
  const logger = new LogHelper(quickOptions(server.url, { maxRetries: 0, maxQueue: 4 }));
  logger.info('before');
  await logger.flush();
  for (let i = 0; i < 6; i++) logger.info(`down${i}`);
  await logger.flush();
  assert.deepEqual(logger.stats(), { queued: 4, pendingBatches: 1, sent: 0, dropped: 2, rejected: 0, retries: 0 });
  await logger.flush();
  await logger.destroy();
  assert.deepEqual(server.delivered().map((r) => r.message), ['before', 'down2', 'down3', 'down4', 'down5']);
  assert.equal(server.delivered()[1].metadata.loglens_client_dropped, 2);
});

test('destroy() flushes what is queued, and later log() calls are ignored', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const logger = new LogHelper(quickOptions(server.url));
  logger.info('last words');
  logger.info('really last');
  await logger.destroy();
  assert.deepEqual(server.delivered().map((r) => r.message), ['last words', 'really last']);
  logger.info('too late');
  await logger.flush();
  assert.equal(server.requests.length, 1);
  assert.equal(warn.mock.callCount(), 1);
  assert.equal(await logger.destroy(), undefined, 'destroy() twice is harmless');
});

test('destroy() keeps to its time budget against a hanging server and reports what is left', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  server.respond(...Array(10).fill('hang'));
  const logger = new LogHelper(quickOptions(server.url, { requestTimeoutMs: 5000 }));
  logger.info('stuck');
  const started = Date.now();
  await logger.destroy({ timeoutMs: 300 });
  const took = Date.now() - started;
  assert.ok(took >= 290 && took < 2000, `destroy took ${took} ms`);
  assert.ok(warn.mock.calls.some((c) => /1 records were not delivered/.test(String(c.arguments[0]))));
});

test('a Node process that just ends still delivers what it logged (beforeExit flush)', async () => {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { LogHelper } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
       const logger = new LogHelper({ logServerUrl: process.argv[1], service: 'short-lived', flushIntervalMs: 60000 });
       for (let i = 0; i < 3; i++) logger.info('exit ' + i);`,
      server.url,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], cwd: fileURLToPath(new URL('.', import.meta.url)) },
  );
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.deepEqual(server.delivered().map((r) => r.message), ['exit 0', 'exit 1', 'exit 2']);
});

test('the interval timer does not keep a finished Node process alive', async () => {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { LogHelper } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
       new LogHelper({ logServerUrl: 'http://127.0.0.1:9', service: 'idle', flushIntervalMs: 1000 });`,
    ],
    { stdio: 'inherit' },
  );
  const started = Date.now();
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 5000);
});
