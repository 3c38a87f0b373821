// The browser code paths, run in Node against a fake page (the real-browser run is browser-e2e.test.mjs).
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { LogHelper } from '../dist/index.js';
import { quickOptions, startFakeIngest } from './support/fake-ingest.mjs';
import { FakeStorage, installPage, recordingFetch } from './support/fake-page.mjs';

let server;
let page;
const loggers = [];

before(async () => {
  server = await startFakeIngest();
});
after(() => server.close());
beforeEach(() => {
  server.reset();
});
afterEach(async () => {
  await Promise.all(loggers.splice(0).map((logger) => logger.destroy({ timeoutMs: 200 })));
  page?.uninstall();
  page = undefined;
});

function helper(overrides = {}) {
  const logger = new LogHelper(quickOptions(server.url, overrides));
  loggers.push(logger);
  return logger;
}

const ids = (records) => records.map((r) => r.event_id);
const settle = (ms = 50) => new Promise((resolve) => setTimeout(resolve, ms));

test('records carry the page context and log_type FRONTEND', async () => {
  page = installPage();
  const logger = helper();
  logger.info('clicked', { action_type: 'button_click', action_target: 'button#checkout' });
  await logger.flush();
  const [record] = server.delivered();
  assert.equal(record.log_type, 'FRONTEND');
  assert.equal(record.page_path, '/checkout');
  assert.equal(record.page_url, 'https://shop.example/checkout?step=2');
  assert.equal(record.browser_name, 'Safari');
  assert.equal(record.device_type, 'mobile');
  assert.equal(record.screen_width, 390);
  assert.equal(record.screen_height, 844);
  assert.equal(record.action_target, 'button#checkout');
});

test('uncaught errors and unhandled rejections are captured with error_type and stack_trace', async () => {
  page = installPage();
  const logger = helper();
  page.throwUncaught(new TypeError('cart is undefined'));
  page.rejectUnhandled(new RangeError('quantity out of range'));
  page.rejectUnhandled('plain reason');
  await logger.flush();
  const [uncaught, rejected, plain] = server.delivered();
  assert.equal(uncaught.level, 'ERROR');
  assert.equal(uncaught.message, 'cart is undefined');
  assert.equal(uncaught.error_type, 'TypeError');
  assert.match(uncaught.stack_trace, /cart is undefined/);
  assert.deepEqual(uncaught.metadata, { loglens_capture: 'error', source: 'https://shop.example/app.js', line: 12, column: 7 });
  assert.equal(rejected.error_type, 'RangeError');
  assert.match(rejected.stack_trace, /quantity out of range/);
  assert.equal(plain.message, 'plain reason');
  assert.equal(plain.error_type, 'UnhandledRejection');
});

test('captureErrors: false leaves window errors alone, and destroy() removes the listeners', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  page = installPage();
  const quiet = helper({ captureErrors: false });
  page.throwUncaught(new Error('not mine'));
  await quiet.flush();
  assert.equal(server.requests.length, 0);
  const loud = helper();
  await loud.destroy();
  page.throwUncaught(new Error('after destroy'));
  await loud.flush();
  assert.equal(server.requests.length, 0);
  assert.equal(warn.mock.callCount(), 0, 'no listener left to call log() after destroy()');
});

test('an unreachable server leaves the batch in localStorage, and the next page load replays it', async (t) => {
  t.mock.method(console, 'warn', () => {});
  let down = true;
  const whileDown = () => (down ? { status: 503 } : { status: 200 });
  server.respond(...Array(20).fill(whileDown));
  const storage = new FakeStorage();
  page = installPage({ storage });
  const first = helper({ maxRetries: 0 });
  first.info('made offline 1');
  first.info('made offline 2');
  await first.flush();
  await first.destroy({ timeoutMs: 100 });
  assert.equal(server.delivered().length, 0);
  const stored = storage.batches();
  assert.equal(stored.length, 1);
  assert.deepEqual(stored[0].logs.map((r) => r.message), ['made offline 1', 'made offline 2']);

  down = false;
  page.uninstall();
  page = installPage({ storage });
  helper();
  await server.waitFor((s) => s.delivered().length === 2);
  assert.deepEqual(ids(server.delivered()), ids(stored[0].logs), 'replayed with the same event_ids');
  await settle();
  assert.equal(storage.getItem('loglens:pending'), null, 'storage is cleared after delivery');
});

test('pagehide with an API key sends a keepalive fetch with the key in a header, then clears storage', async () => {
  const storage = new FakeStorage();
  page = installPage({ storage, sendBeacon: () => assert.fail('no beacon when a key is set') });
  const recorder = recordingFetch();
  const logger = helper({ apiKey: 'secret-key', fetch: recorder.fetch });
  logger.info('leaving');
  logger.info('y'.repeat(3000));
  page.pagehide();
  assert.equal(recorder.calls.length, 1, 'sent synchronously inside the pagehide handler');
  const [{ url, init }] = recorder.calls;
  assert.equal(init.keepalive, true);
  assert.equal(init.headers['x-api-key'], 'secret-key');
  assert.equal(init.headers['Content-Encoding'], undefined, 'keepalive bodies are not compressed');
  assert.ok(!url.includes('secret-key'), 'the key never goes into a URL');
  assert.equal(storage.batches().length, 1, 'stored before sending, in case the page dies');
  await server.waitFor((s) => s.delivered().length === 2);
  await settle();
  assert.equal(storage.getItem('loglens:pending'), null);
  assert.equal(server.requests[0].headers['x-api-key'], 'secret-key');
});

test('pagehide without an API key uses sendBeacon', async () => {
  const storage = new FakeStorage();
  const beacons = [];
  page = installPage({ storage, sendBeacon: (url, data) => beacons.push({ url, data }) > 0 });
  const recorder = recordingFetch();
  const logger = helper({ fetch: recorder.fetch });
  logger.warn('bye');
  page.pagehide();
  assert.equal(recorder.calls.length, 0);
  assert.equal(beacons.length, 1);
  assert.equal(beacons[0].url, `${server.url}/api/v1/logs/batch`);
  assert.equal(beacons[0].data.type, 'application/json');
  const body = JSON.parse(await beacons[0].data.text());
  assert.deepEqual(body.logs.map((r) => r.message), ['bye']);
  assert.equal(storage.getItem('loglens:pending'), null, 'a queued beacon counts as sent');
});

test('a refused beacon falls back to keepalive fetch', async () => {
  page = installPage({ sendBeacon: () => false });
  const recorder = recordingFetch();
  const logger = helper({ fetch: recorder.fetch });
  logger.info('beacon full');
  page.pagehide();
  assert.equal(recorder.calls.length, 1);
  assert.equal(recorder.calls[0].init.keepalive, true);
  await server.waitFor((s) => s.delivered().length === 1);
});

test('visibilitychange to hidden flushes like pagehide; back to visible does nothing', async () => {
  page = installPage();
  const recorder = recordingFetch();
  const logger = helper({ apiKey: 'k', fetch: recorder.fetch });
  logger.info('tab switched');
  page.hide();
  assert.equal(recorder.calls.length, 1);
  assert.equal(recorder.calls[0].init.keepalive, true);
  page.show();
  assert.equal(recorder.calls.length, 1);
  await server.waitFor((s) => s.delivered().length === 1);
});

test('a page that dies during pagehide loses nothing: the next load replays what was stored', async () => {
  const storage = new FakeStorage();
  page = installPage({ storage });
  const dying = recordingFetch({ keepaliveNeverSettles: true });
  const logger = helper({ apiKey: 'k', fetch: dying.fetch });
  for (let i = 0; i < 3; i++) logger.info(`unload ${i}`);
  page.pagehide();
  const stored = storage.batches();
  assert.equal(stored.length, 1);

  page.uninstall();
  page = installPage({ storage });
  helper({ apiKey: 'k' });
  await server.waitFor((s) => s.delivered().length === 3);
  assert.deepEqual(ids(server.delivered()), ids(stored[0].logs));
});

test('a batch in flight when the page hides is stored and resent with keepalive', async () => {
  const storage = new FakeStorage();
  server.respond('hang');
  page = installPage({ storage });
  const recorder = recordingFetch();
  const logger = helper({ apiKey: 'k', fetch: recorder.fetch, requestTimeoutMs: 5000 });
  logger.info('in flight');
  void logger.flush();
  await server.waitFor((s) => s.requests.length === 1);
  page.pagehide();
  assert.equal(recorder.calls.length, 2);
  assert.equal(recorder.calls[1].init.keepalive, true);
  await server.waitFor((s) => s.delivered().length === 1);
  assert.deepEqual(ids(server.delivered()), ids(server.requests[0].logs), 'same event_ids: the server deduplicates');
});

test('stored batches are capped: the oldest is dropped and counted in the next batch', async (t) => {
  t.mock.method(console, 'warn', () => {});
  const storage = new FakeStorage();
  page = installPage({ storage });
  const dying = recordingFetch({ keepaliveNeverSettles: true });
  const logger = helper({ apiKey: 'k', fetch: dying.fetch, maxStoredBatches: 2 });
  for (const name of ['a', 'b', 'c']) {
    logger.info(`${name}1`);
    logger.info(`${name}2`);
    page.pagehide();
  }
  assert.deepEqual(
    storage.batches().map((b) => b.logs.map((r) => r.message)),
    [['b1', 'b2'], ['c1', 'c2']],
  );
  assert.equal(logger.stats().dropped, 2);
  page.uninstall();
  page = installPage({ storage });
  const next = helper({ apiKey: 'k' });
  await server.waitFor((s) => s.delivered().length === 4);
  // The count lives in the first instance; it rides on that instance's next batch.
  logger.info('after');
  await logger.destroy({ timeoutMs: 100 });
  await next.flush();
  const after = server.delivered().find((r) => r.message === 'after');
  assert.equal(after?.metadata?.loglens_client_dropped, 2);
});

test('a full localStorage quota evicts the oldest stored batches instead of failing', async (t) => {
  t.mock.method(console, 'warn', () => {});
  const storage = new FakeStorage(2500);
  page = installPage({ storage });
  const dying = recordingFetch({ keepaliveNeverSettles: true });
  const logger = helper({ apiKey: 'k', fetch: dying.fetch });
  for (let i = 0; i < 4; i++) {
    logger.info(`quota ${i} ${'q'.repeat(400)}`);
    page.pagehide();
  }
  const kept = storage.batches().map((b) => b.logs[0].message.slice(0, 7));
  assert.ok(kept.length >= 1 && kept.length < 4, `kept ${kept}`);
  assert.equal(kept.at(-1), 'quota 3');
  assert.equal(logger.stats().dropped, 4 - kept.length);
});

test('localStorage that throws on access is treated as absent', async () => {
  page = installPage();
  Object.defineProperty(page.window, 'localStorage', {
    get() {
      throw new DOMException('denied', 'SecurityError');
    },
  });
  const logger = helper();
  logger.info('no storage');
  await logger.flush();
  assert.equal(server.delivered().length, 1);
});
