// @vitest-environment node
// The built console in headless Chromium (Debian's, driven by playwright-core; no browser is downloaded)
// against the fake API in fake-api.ts: sign-in, ask, share, search, live tail, SQL with the guard's verdict,
// saved entries, keyboard use. Screenshots of each view go to test-artifacts/ (git-ignored).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeApi, startFakeApi } from './fake-api';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function findChromium(): string | undefined {
  for (const name of [process.env.CHROMIUM_BIN, 'chromium', 'chromium-browser', 'google-chrome'].filter(Boolean) as string[]) {
    const found = spawnSync('sh', ['-c', 'command -v "$0"', name], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  return undefined;
}

const executable = findChromium();
const skip = executable ? false : 'chromium is not installed (Debian: apt-get install -y chromium, or set CHROMIUM_BIN)';

describe.skipIf(skip)('the console in headless Chromium', () => {
  let api: FakeApi;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    api = await startFakeApi();
    profile = mkdtempSync(path.join(tmpdir(), 'loglens-console-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: executable!, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('pageerror', (error) => consoleErrors.push(error.message));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await api?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

  it('signs in with the one-time token, keeps it out of the URL and script, and uses the cookie', async () => {
    await page.goto(`${api.url}/#token=${api.token}`);
    await page.getByRole('heading', { name: 'Ask' }).waitFor();
    expect(new URL(page.url()).hash).toBe('#/');
    const [cookie] = await context.cookies(api.url);
    expect(cookie).toMatchObject({ name: 'loglens_session', httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(await page.evaluate(() => window.location.href)).not.toContain(api.token);
  });

  it('asks, waits for the running answer, and shows the explanation, steps, rows and a chart', async () => {
    await page.getByLabel('Your question about the logs').fill('why did payments fail this morning?');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.getByRole('heading', { name: /95 payment errors/ }).waitFor({ timeout: 10_000 });
    expect(api.requests.filter((r) => r.path.startsWith('/api/v1/ask/')).length).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.locator('figure.chart canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('figure.chart').getAttribute('data-chart')).toBe('time-bar');
    expect(await page.locator('.table-scroll tbody tr').count()).toBe(12); // not uPlot's legend table
    await page.getByText(/The agent's steps/).click();
    await page.getByText('unknown column "hour"').waitFor();
    await shot('ask');
  });

  it('shares the answer as a link that opens it again', async () => {
    await page.getByRole('button', { name: 'Share' }).click();
    const link = page.getByRole('status').filter({ hasText: 'Link to this answer' }).getByRole('link');
    const href = await link.getAttribute('href');
    expect(href).toMatch(/#\/answers\/[A-Za-z0-9_-]{22}$/);
    await page.goto(href!);
    await page.getByRole('heading', { name: 'Shared answer' }).waitFor();
    await page.getByRole('heading', { name: /95 payment errors/ }).waitFor();
    await shot('shared-answer');
  });

  it('searches with filters: histogram, records, an expanded record, the whole trace and the next page', async () => {
    await page.goto(`${api.url}/#/search?service=checkout`);
    await page.locator('li.record').first().waitFor();
    expect(await page.locator('li.record').count()).toBe(50);
    await expect.poll(() => page.locator('figure.chart canvas').count()).toBeGreaterThan(0);
    const first = page.locator('.record-line').first();
    await first.focus();
    await page.keyboard.press('Enter'); // records open from the keyboard
    expect(await first.getAttribute('aria-expanded')).toBe('true');
    await page.locator('.record-detail pre.stack').waitFor();
    await shot('search');
    await page.getByRole('button', { name: 'Load 50 more' }).click();
    await expect.poll(() => page.locator('li.record').count()).toBe(60);
    await page.getByRole('link', { name: 'Whole trace trace-e2e' }).click();
    await expect.poll(() => page.url()).toContain('trace_id=trace-e2e');
    await expect.poll(() => page.locator('li.record').count()).toBe(3);
    expect(await page.getByLabel('Trace id').inputValue()).toBe('trace-e2e');
  });

  it('follows the live tail: a record posted during the test appears, pause holds it back, resume brings it', async () => {
    await page.goto(`${api.url}/#/tail`);
    await page.getByText('Waiting for records').waitFor();
    api.add({ message: 'posted during the test', level: 'ERROR' });
    await page.getByText('posted during the test').waitFor({ timeout: 5000 });
    expect(await page.getByRole('status').filter({ hasText: 'new record' }).textContent()).toBe('1 new record');
    await page.getByRole('button', { name: 'Pause' }).click();
    api.add({ message: 'stored while paused' });
    await page.waitForTimeout(2500);
    expect(await page.getByText('stored while paused').count()).toBe(0);
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByText('stored while paused').waitFor({ timeout: 5000 });
    await shot('tail');
  });

  it("shows the SQL guard's verdict while typing, runs, charts, and saves the SQL to reopen it", async () => {
    await page.goto(`${api.url}/#/sql`);
    const editor = page.getByLabel('One read-only SELECT over logs and the summary views');
    await editor.fill('SELECT service, count(*) AS errors FROM logs GROUP BY service');
    await page.getByText('Refused (unbounded_time)').waitFor();
    const good = "SELECT service, count(*) AS errors FROM logs WHERE created_at >= now() - interval '24 hours' GROUP BY service";
    await editor.fill(good);
    await page.getByText('The guard allows this.').waitFor();
    await editor.press('Control+Enter');
    await expect.poll(() => page.locator('.table-scroll tbody tr').count()).toBe(3);
    await expect.poll(() => page.locator('figure.chart[data-chart="bars"] canvas').count()).toBe(1);
    await shot('sql');
    await page.getByRole('button', { name: 'Save SQL' }).click();
    await page.getByLabel('Name').fill('errors by service');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('button', { name: 'Saved ✓' }).waitFor();
    await page.getByRole('link', { name: 'Saved' }).click();
    await page.getByRole('link', { name: 'errors by service' }).click();
    await expect.poll(() => editor.inputValue()).toBe(good);
    await page.getByRole('link', { name: 'Saved' }).click();
    await page.getByRole('link', { name: 'errors by service' }).waitFor();
    await shot('saved');
    await page.getByRole('button', { name: 'Delete errors by service' }).click();
    await page.getByText('Nothing saved yet').waitFor();
  });

  it('is usable from the keyboard: skip link, navigation, current page marked', async () => {
    await page.goto(`${api.url}/#/search`);
    await page.reload(); // a fresh document: focus starts at the top
    await page.getByRole('heading', { name: 'Search' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter'); // the first nav link: Ask
    await page.getByRole('heading', { name: 'Ask' }).waitFor();
    expect(await page.getByRole('link', { name: 'Ask' }).getAttribute('aria-current')).toBe('page');
    for (const input of await page.locator('input, textarea, select').all()) {
      const labelled = await input.evaluate((el) => !!(el as HTMLInputElement).labels?.length || !!el.getAttribute('aria-label'));
      expect(labelled).toBe(true);
    }
  });

  it('made no request without the session cookie after sign-in, and logged no errors', () => {
    const api401 = api.requests.filter((r) => r.path.startsWith('/api/') && r.path !== '/api/v1/session' && !r.cookie);
    expect(api401).toEqual([]);
    expect(consoleErrors, consoleErrors.join('\n')).toEqual([]);
  });
});
