import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import pino from 'pino';
import pinoTransport, { loglensDestination } from '../dist/pino.js';
import { quickOptions, startFakeIngest } from './support/fake-ingest.mjs';

let server;
before(async () => {
  server = await startFakeIngest();
});
after(() => server.close());

test('a pino destination ships each line with its level, time, bindings and error object', async () => {
  server.reset();
  const destination = loglensDestination(quickOptions(server.url, { service: 'checkout' }));
  const log = pino({ level: 'trace' }, destination);
  log.child({ user_id: 'u-1' }).warn({ order_id: 'o-1' }, 'slow order');
  log.trace('detail');
  log.error({ err: Object.assign(new TypeError('bad type'), { code: 'E_BAD' }) }, 'request failed');
  log.info({ a: 1 });
  log.fatal('down');
  destination.end();
  await new Promise((resolve) => destination.on('close', resolve));

  const [slow, detail, failed, objectOnly, down] = server.delivered();
  assert.deepEqual([slow.level, slow.message, slow.user_id, slow.order_id], ['WARN', 'slow order', 'u-1', 'o-1']);
  assert.equal(slow.service, 'checkout');
  assert.equal(typeof slow.pid, 'number'); // pino's own fields go as they are; the server keeps them in metadata
  assert.ok(Math.abs(Date.parse(slow.timestamp) - Date.now()) < 60_000);
  assert.equal(detail.level, 'TRACE');
  assert.equal(failed.level, 'ERROR');
  assert.deepEqual([failed.err.type, failed.err.code], ['TypeError', 'E_BAD']); // the server maps err.* to columns
  assert.match(failed.err.stack, /^TypeError: bad type\n/);
  assert.deepEqual([objectOnly.message, objectOnly.a], ['', 1]); // the server makes {"a":1} the message
  assert.equal(down.level, 'FATAL');
  assert.equal(new Set(server.delivered().map((r) => r.event_id)).size, 5);
});

test('a failing server is retried by the LogHelper underneath: nothing lost, nothing twice', async () => {
  server.reset();
  server.respond({ status: 503 }, 'reset', { status: 200 });
  const destination = loglensDestination(quickOptions(server.url, { batchSize: 3 }));
  const log = pino(destination);
  for (let n = 0; n < 3; n++) log.info({ n }, `line ${n}`);
  await server.waitFor((s) => s.delivered().length === 3);
  destination.end();
  assert.equal(server.requests.length, 3);
  assert.deepEqual(
    server.delivered().map((r) => r.n),
    [0, 1, 2],
  );
  const ids = server.requests.map((r) => r.logs.map((l) => l.event_id).join());
  assert.equal(new Set(ids).size, 1); // every attempt resent the same records
});

test('lines that are not pino JSON are kept as text', async () => {
  server.reset();
  const destination = loglensDestination(quickOptions(server.url));
  destination.write('plain text line\n[1,2]\n{"level":30,"msg":"split ');
  destination.write('across writes","time":1700000000000}\n');
  destination.end();
  await new Promise((resolve) => destination.on('close', resolve));
  assert.deepEqual(
    server.delivered().map((r) => [r.level, r.message]),
    [
      ['INFO', 'plain text line'],
      ['INFO', '[1,2]'],
      ['INFO', 'split across writes'],
    ],
  );
  assert.equal(server.delivered()[2].timestamp, '2023-11-14T22:13:20.000Z');
});

test('the default export is an async pino transport factory', async () => {
  const stream = await pinoTransport(quickOptions(server.url));
  assert.equal(typeof stream.write, 'function');
  stream.end();
  await new Promise((resolve) => stream.on('close', resolve));
});

test('pino.transport in a worker thread delivers everything when the process exits on its own', async () => {
  server.reset();
  const target = new URL('../dist/pino.js', import.meta.url).href;
  const script = `
    import pino from 'pino';
    const transport = pino.transport({ target: ${JSON.stringify(target)},
      options: { logServerUrl: ${JSON.stringify(server.url)}, service: 'worker', flushIntervalMs: 600000 } });
    const log = pino(transport);
    for (let n = 0; n < 40; n++) log.info({ n }, 'from the worker');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    stdio: 'inherit',
  });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.deepEqual(
    server.delivered().map((r) => r.n),
    Array.from({ length: 40 }, (_, n) => n),
  );
  assert.ok(server.delivered().every((r) => r.service === 'worker'));
});
