// One run of the built client in a real browser (headless Chromium) against an ingest server.
//
// By default the server is the fake one in support/fake-ingest.mjs. To run the same page against the real local
// loglens server, set LOGLENS_E2E_SERVER_URL (and LOGLENS_E2E_API_KEY if it wants one) and LOGLENS_E2E_CHECK to a
// module whose default export is `async ({ service, runId, expectedMessages, pageUrl, stats }) => void` and throws
// when the records are not where they should be (e.g. a PostgreSQL query on service). Other suites can also import
// runBrowserScenario from support/browser-scenario.mjs directly.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { EXPECTED_MESSAGES, findChromium, runBrowserScenario } from './support/browser-scenario.mjs';
import { startFakeIngest, UUID } from './support/fake-ingest.mjs';

const chromium = findChromium();
const skip = chromium
  ? false
  : 'chromium is not installed (Debian: apt-get install -y chromium, or set CHROMIUM_BIN); the headless-browser test is skipped';

async function checkFakeIngest(fake, { service, expectedMessages, pageUrl }) {
  await fake.waitFor((s) => s.delivered().filter((r) => r.service === service).length >= expectedMessages.length, 15_000);
  const records = fake.delivered().filter((r) => r.service === service);
  assert.deepEqual(records.map((r) => r.message).sort(), [...expectedMessages].sort());
  assert.ok(fake.requests.every((r) => r.headers['x-api-key'] === 'e2e-key'), 'every request carries the key header');
  for (const record of records) {
    assert.equal(record.browser_name, 'Chrome');
    assert.equal(record.log_type, 'FRONTEND');
    assert.equal(record.device_type, 'desktop');
    assert.equal(record.page_path, '/e2e.html');
    assert.equal(record.page_url, pageUrl);
    assert.ok(record.screen_width > 0 && record.screen_height > 0, `screen ${record.screen_width}x${record.screen_height}`);
    assert.equal(record.environment, 'e2e');
    assert.match(record.event_id, UUID, 'crypto.randomUUID in a secure context (127.0.0.1)');
  }
  const byMessage = Object.fromEntries(records.map((r) => [r.message, r]));
  assert.equal(byMessage['e2e uncaught boom'].error_type, 'Error');
  assert.match(byMessage['e2e uncaught boom'].stack_trace, /e2e uncaught boom/);
  assert.equal(byMessage['e2e rejected'].error_type, 'RangeError');
  assert.equal(byMessage['e2e error with fields'].error_type, 'TypeError');
  assert.equal(byMessage['e2e error with fields'].http_status_code, 502);
  assert.equal(byMessage['e2e warn'].level, 'WARN');
}

test('a page using the built client delivers its records with browser fields from headless Chromium', { skip, timeout: 90_000 }, async () => {
  const runId = randomUUID();
  const service = `e2e-browser-${runId.slice(0, 8)}`;
  const externalUrl = process.env.LOGLENS_E2E_SERVER_URL;
  let fake;
  let check;
  let apiKey;
  if (externalUrl) {
    if (!process.env.LOGLENS_E2E_CHECK) throw new Error('LOGLENS_E2E_SERVER_URL needs LOGLENS_E2E_CHECK (a module that verifies the records arrived)');
    check = (await import(pathToFileURL(path.resolve(process.env.LOGLENS_E2E_CHECK)).href)).default;
    apiKey = process.env.LOGLENS_E2E_API_KEY || undefined;
  } else {
    fake = await startFakeIngest();
    check = (context) => checkFakeIngest(fake, context);
    apiKey = 'e2e-key';
  }
  try {
    const { stats, pageUrl } = await runBrowserScenario({
      chromium,
      logServerUrl: externalUrl ?? fake.url,
      apiKey,
      service,
      runId,
    });
    assert.equal(stats.sent, EXPECTED_MESSAGES.length, `client stats in the page: ${JSON.stringify(stats)}`);
    await check({ service, runId, expectedMessages: EXPECTED_MESSAGES, pageUrl, stats });
  } finally {
    await fake?.close();
  }
});
