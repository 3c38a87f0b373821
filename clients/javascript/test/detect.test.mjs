import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectBrowser, detectDevice, LogHelper } from '../dist/index.js';

// [what, user agent, browser, device, maxTouchPoints]
const TABLE = [
  ['Chrome on Windows', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36', 'Chrome', 'desktop'],
  ['Edge on Windows', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80', 'Edge', 'desktop'],
  ['legacy EdgeHTML', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19045', 'Edge', 'desktop'],
  ['Edge on Android', 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64', 'Edge', 'mobile'],
  ['Edge on iOS', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/124.2478.50 Mobile/15E148 Safari/605.1.15', 'Edge', 'mobile'],
  ['Opera on Windows', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0', 'Opera', 'desktop'],
  ['Opera on Android', 'Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 OPR/81.1.4292.78446', 'Opera', 'mobile'],
  ['Samsung Internet on a phone', 'Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36', 'Samsung Internet', 'mobile'],
  ['Samsung Internet on a tablet', 'Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36', 'Samsung Internet', 'tablet'],
  ['Firefox on Windows', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0', 'Firefox', 'desktop'],
  ['Firefox on Android', 'Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0', 'Firefox', 'mobile'],
  ['Firefox on iOS', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15', 'Firefox', 'mobile'],
  ['Chrome on iOS', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1', 'Chrome', 'mobile'],
  ['Chrome on Android', 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36', 'Chrome', 'mobile'],
  ['Chrome on an Android tablet', 'Mozilla/5.0 (Linux; Android 13; Pixel Tablet) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36', 'Chrome', 'tablet'],
  ['headless Chromium', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36', 'Chrome', 'desktop'],
  ['Safari on macOS', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15', 'Safari', 'desktop'],
  ['Safari on iPhone', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1', 'Safari', 'mobile'],
  ['Safari on iPad', 'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1', 'Safari', 'tablet'],
  ['iPadOS asking for the desktop site', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15', 'Safari', 'tablet', 5],
  ['curl', 'curl/8.5.0', 'Unknown', 'desktop'],
];

for (const [what, ua, browser, device, touchPoints] of TABLE) {
  test(`${what}: ${browser}, ${device}`, () => {
    assert.equal(detectBrowser(ua), browser);
    assert.equal(detectDevice(ua, 1280, touchPoints), device);
  });
}

test('the origin document order would have called Edge and Opera "Chrome"', () => {
  const originOrder = (ua) =>
    ua.includes('Chrome') ? 'Chrome' : ua.includes('Firefox') ? 'Firefox' : ua.includes('Safari') ? 'Safari' : ua.includes('Edge') ? 'Edge' : 'Unknown';
  const edge = TABLE[1][1];
  const opera = TABLE[5][1];
  assert.equal(originOrder(edge), 'Chrome');
  assert.equal(originOrder(opera), 'Chrome');
  assert.equal(detectBrowser(edge), 'Edge');
  assert.equal(detectBrowser(opera), 'Opera');
});

test('without a user agent, the screen width decides as in the origin document', () => {
  assert.equal(detectBrowser(undefined), 'Unknown');
  assert.equal(detectDevice('', 375), 'mobile');
  assert.equal(detectDevice('', 800), 'tablet');
  assert.equal(detectDevice('', 1440), 'desktop');
  assert.equal(detectDevice(undefined), 'desktop');
});

test('LogHelper keeps the origin detectBrowser()/detectDevice() methods', () => {
  const logger = new LogHelper({ logServerUrl: 'http://127.0.0.1:9', service: 'x' });
  assert.equal(logger.detectBrowser(TABLE[1][1]), 'Edge');
  assert.equal(logger.detectDevice(TABLE[18][1]), 'tablet');
  assert.equal(logger.detectBrowser(), 'Unknown', 'Node has no page');
  return logger.destroy();
});
