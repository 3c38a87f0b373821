import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import winston from 'winston';
import DefaultTransport, { LoglensTransport } from '../dist/winston.js';
import { quickOptions, startFakeIngest } from './support/fake-ingest.mjs';

let server;
before(async () => {
  server = await startFakeIngest();
});
after(() => server.close());

test('winston records keep their level, message, metadata, timestamp and error stack', async () => {
  server.reset();
  const transport = new LoglensTransport(quickOptions(server.url, { service: 'user-service', level: 'silly' }));
  const logger = winston.createLogger({
    level: 'silly',
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    defaultMeta: { component: 'signup' },
    transports: [transport],
  });
  logger.info('hello', { user_id: 'u-1' });
  logger.warn('careful');
  logger.verbose('chatty');
  logger.silly('sillier');
  logger.http('GET /');
  logger.error(new Error('winston boom'));
  await transport.shutdown();

  const records = server.delivered();
  assert.deepEqual(
    records.map((r) => [r.level, r.message]),
    [
      ['INFO', 'hello'],
      ['WARN', 'careful'],
      ['DEBUG', 'chatty'],
      ['TRACE', 'sillier'],
      ['INFO', 'GET /'],
      ['ERROR', 'winston boom'],
    ],
  );
  assert.equal(records[0].user_id, 'u-1');
  assert.equal(records[0].component, 'signup');
  assert.ok(records.every((r) => r.service === 'user-service'));
  assert.match(records[5].stack, /^Error: winston boom\n/); // the server reads `stack` as the stack trace
  assert.ok(Math.abs(Date.parse(records[0].timestamp) - Date.now()) < 60_000);
});

test('the transport honours its own level and an Error logged without the errors format', async () => {
  server.reset();
  const transport = new DefaultTransport(quickOptions(server.url, { level: 'warn' }));
  const logger = winston.createLogger({ level: 'info', transports: [transport] });
  logger.info('below the transport level');
  logger.error(new RangeError('out of range'));
  await transport.shutdown();
  const [record] = server.delivered();
  assert.equal(server.delivered().length, 1);
  assert.deepEqual([record.level, record.message, record.error_type], ['ERROR', 'out of range', 'RangeError']);
  assert.match(record.stack_trace, /^RangeError: out of range/);
});

test('a server outage is retried; ending the logger delivers what is queued', async () => {
  server.reset();
  server.respond({ status: 503, headers: { 'Retry-After': '0' } }, { status: 502 });
  const transport = new LoglensTransport(quickOptions(server.url, { batchSize: 50 }));
  const logger = winston.createLogger({ transports: [transport] });
  for (let n = 0; n < 20; n++) logger.info(`line ${n}`, { n });
  const finished = new Promise((resolve) => transport.on('finish', resolve));
  logger.end();
  await finished;
  assert.deepEqual(
    server.delivered().map((r) => r.n),
    Array.from({ length: 20 }, (_, n) => n),
  );
  assert.equal(transport.helper.stats().retries, 2);
});
