// The console's first load in headless Chromium (bench/console.py runs this): for each case, bytes on the wire
// (Chrome's encodedDataLength: headers and bodies as sent, compressed or not), requests, first contentful paint
// and the time until the page is usable (its ready selector is in the DOM), each from navigation start.
// Input: BENCH_CASES (JSON [{name, url, ready, warm}]), BENCH_REPEAT, BENCH_COOKIE ("name=value"), CHROMIUM_BIN.
// Output: one JSON object on stdout, {name: [{bytes, requests, fcp_ms, ready_ms}, ...]}.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(new URL('../clients/console/package.json', import.meta.url)));
const { chromium } = require('playwright-core');

const cases = JSON.parse(process.env.BENCH_CASES);
const repeat = Number(process.env.BENCH_REPEAT ?? 7);
const [cookieName, cookieValue] = (process.env.BENCH_COOKIE ?? '').split('=');
const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium', args: flags });

async function load(page, navigate, ready) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  let requests = 0;
  cdp.on('Network.loadingFinished', (event) => {
    bytes += event.encodedDataLength;
    requests += 1;
  });
  await navigate();
  await page.waitForFunction(
    (selector) => {
      if (document.querySelector(selector)) window.__ready ??= performance.now();
      return window.__ready !== undefined;
    },
    ready,
    { polling: 'raf', timeout: 30_000 },
  );
  await page.waitForLoadState('networkidle');
  const timing = await page.evaluate(() => ({
    ready: window.__ready,
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
  }));
  await cdp.detach();
  return { bytes, requests, fcp_ms: timing.fcp, ready_ms: timing.ready };
}

const results = {};
for (const { name, url, ready, warm } of cases) {
  results[name] = [];
  for (let i = 0; i < repeat; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } }); // an empty cache
    if (cookieName) {
      await context.addCookies([{ name: cookieName, value: cookieValue, url: new URL(url).origin }]);
    }
    const page = await context.newPage();
    const open = () => page.goto(url, { waitUntil: 'commit' });
    if (warm) {
      await load(page, open, ready); // fills the cache; the measured load is the reload
      results[name].push(await load(page, () => page.reload({ waitUntil: 'commit' }), ready));
    } else {
      results[name].push(await load(page, open, ready));
    }
    await context.close();
  }
}
await browser.close();
process.stdout.write(JSON.stringify(results));
