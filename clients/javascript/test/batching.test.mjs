import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import LogHelperDefault, { LogHelper } from '../dist/index.js';
import { quickOptions, startFakeIngest, UUID } from './support/fake-ingest.mjs';

let server;
before(async () => {
  server = await startFakeIngest();
});
after(() => server.close());

function fresh() {
  server.reset();
}

test('the default export is the LogHelper class', () => {
  assert.equal(LogHelperDefault, LogHelper);
});

test('a full batch is sent without waiting for the timer, with the record shape the server expects', async () => {
  fresh();
  const logger = new LogHelper(quickOptions(server.url, { batchSize: 3, apiKey: 'key-123' }));
  logger.info('one', { user_id: 'u1', metadata: { order_id: 7 } });
  logger.log('WARN', 'two');
  logger.error('three', { http_status_code: 502, endpoint: '/pay', extra_field: 'kept' });
  await server.waitFor((s) => s.delivered().length === 3);
  await logger.destroy();

  const [request] = server.requests;
  assert.equal(request.url, '/api/v1/logs/batch');
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers['x-api-key'], 'key-123');
  const [one, two, three] = request.logs;
  assert.deepEqual(
    request.logs.map((r) => [r.level, r.message]),
    [['INFO', 'one'], ['WARN', 'two'], ['ERROR', 'three']],
  );
  for (const record of request.logs) {
    assert.equal(record.log_type, 'BACKEND');
    assert.equal(record.service, 'test-service');
    assert.equal(record.environment, 'test');
    assert.match(record.event_id, UUID);
    assert.equal(new Date(record.timestamp).toISOString(), record.timestamp);
    assert.equal(record.page_path, undefined, 'no browser context in Node');
  }
  assert.equal(new Set(request.logs.map((r) => r.event_id)).size, 3);
  assert.equal(one.user_id, 'u1');
  assert.deepEqual(one.metadata, { order_id: 7 });
  assert.equal(two.metadata, undefined);
  assert.equal(three.http_status_code, 502);
  assert.equal(three.extra_field, 'kept', 'unknown fields go to the server, which keeps them in metadata');
});

test('the interval flushes a partial batch', async () => {
  fresh();
  const logger = new LogHelper(quickOptions(server.url, { flushIntervalMs: 40 }));
  logger.info('on the timer');
  await server.waitFor((s) => s.delivered().length === 1, 2000);
  await logger.destroy();
  assert.equal(server.delivered()[0].message, 'on the timer');
});

test('flush() sends the queue in batchSize requests, in order, and resolves after the answers', async () => {
  fresh();
  const logger = new LogHelper(quickOptions(server.url, { batchSize: 10, maxQueue: 100 }));
  // Logging 25 records triggers flushes at 10 and 20 as well; all of them are over when flush() resolves.
  for (let i = 0; i < 25; i++) logger.info(`m${i}`);
  await logger.flush();
  assert.deepEqual(
    server.delivered().map((r) => r.message),
    Array.from({ length: 25 }, (_, i) => `m${i}`),
  );
  assert.ok(server.requests.every((r) => r.logs.length <= 10));
  assert.equal(logger.stats().sent, 25);
  assert.equal(logger.stats().queued, 0);
  await logger.destroy();
});

test('a batch is cut by maxBatchBytes before it reaches batchSize', async () => {
  fresh();
  const logger = new LogHelper(quickOptions(server.url, { batchSize: 50, maxBatchBytes: 2000, compress: false }));
  for (let i = 0; i < 10; i++) logger.info('x'.repeat(300));
  await logger.flush();
  await logger.destroy();
  assert.equal(server.delivered().length, 10);
  assert.ok(server.requests.length >= 3, `expected several requests, got ${server.requests.length}`);
  assert.ok(server.requests.every((r) => r.bytes <= 2000), `bodies: ${server.requests.map((r) => r.bytes)}`);
});

test('large bodies are gzipped, small ones are not', async () => {
  fresh();
  const logger = new LogHelper(quickOptions(server.url));
  logger.info('small');
  await logger.flush();
  logger.info('y'.repeat(5000));
  await logger.flush();
  await logger.destroy();
  assert.equal(server.requests[0].headers['content-encoding'], undefined);
  assert.equal(server.requests[1].headers['content-encoding'], 'gzip');
  assert.ok(server.requests[1].bytes < 1000, 'the repeated text compresses');
  assert.equal(server.delivered()[1].message, 'y'.repeat(5000));
});

test('levels are normalised and Errors fill error_type and stack_trace', async () => {
  fresh();
  const logger = new LogHelper(quickOptions(server.url));
  logger.log('warning', 'alias');
  logger.log('critical', 'alias 2');
  logger.log('loud', 'not a level');
  logger.error('payment failed', new TypeError('card declined'));
  logger.error(new RangeError('out of range'));
  logger.warn('with error field', { error: new SyntaxError('bad json'), error_type: 'ParseError' });
  logger.fatal('thrown string', { error: 'just a string' });
  await logger.flush();
  await logger.destroy();
  const [alias, alias2, unknown, typed, bare, overridden, thrownString] = server.delivered();
  assert.equal(alias.level, 'WARN');
  assert.equal(alias2.level, 'FATAL');
  assert.equal(unknown.level, 'INFO');
  assert.deepEqual(unknown.metadata, { loglens_level: 'loud' });
  assert.equal(typed.message, 'payment failed');
  assert.equal(typed.error_type, 'TypeError');
  assert.match(typed.stack_trace, /card declined/);
  assert.equal(bare.message, 'out of range');
  assert.equal(bare.error_type, 'RangeError');
  assert.equal(overridden.error_type, 'ParseError', 'an explicit field wins over the Error');
  assert.match(overridden.stack_trace, /bad json/);
  assert.equal(thrownString.level, 'FATAL');
  assert.equal(thrownString.error_type, undefined);
});

test('hostile input and a broken fetch never throw into the application', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const logger = new LogHelper(
    quickOptions('http://127.0.0.1:9', {
      maxRetries: 0,
      fetch: () => {
        throw new Error('fetch exploded');
      },
    }),
  );
  const circular = { name: 'loop' };
  circular.self = circular;
  const hostile = {
    toJSON() {
      throw new Error('no JSON for you');
    },
  };
  assert.doesNotThrow(() => {
    logger.info('circular', { metadata: circular });
    logger.info('bigint', { metadata: { big: 10n } });
    logger.info('toJSON throws', { metadata: hostile });
    logger.info('metadata not an object', { metadata: 'plain' });
    logger.log(undefined, undefined, 42);
    logger.info('x'.repeat(600_000), { stack_trace: 'y'.repeat(600_000) });
  });
  await logger.flush();
  await logger.destroy({ timeoutMs: 100 });
  assert.equal(logger.stats().sent, 0);
  assert.ok(warn.mock.callCount() >= 1, 'the failure is reported, not thrown');
});

test('records that are too large are truncated, not lost', async () => {
  fresh();
  const logger = new LogHelper(quickOptions(server.url));
  logger.info('m'.repeat(400_000), { stack_trace: 's'.repeat(400_000), metadata: { big: 'b'.repeat(400_000) } });
  await logger.flush();
  await logger.destroy();
  const [record] = server.delivered();
  assert.ok(record.message.startsWith('m'.repeat(1000)));
  assert.ok(record.message.length < 20_000);
  assert.ok(record.stack_trace.length < 20_000);
  assert.equal(record.metadata.loglens_truncated, true);
});

test('missing configuration fails loudly at construction', () => {
  assert.throws(() => new LogHelper({ service: 'x' }), /logServerUrl is required/);
  assert.throws(() => new LogHelper({ logServerUrl: server.url }), /service is required/);
  assert.throws(() => new LogHelper({ logServerUrl: server.url, service: 'x', batchSize: 0 }), /batchSize/);
});

test('a trailing slash in logServerUrl does not double the path', async () => {
  fresh();
  const logger = new LogHelper(quickOptions(`${server.url}/`));
  logger.info('slash');
  await logger.flush();
  await logger.destroy();
  assert.equal(server.requests[0].url, '/api/v1/logs/batch');
});
