// @vitest-environment node
// The built console in headless Chromium against a real `loglens dev` (started by tests/e2e/test_console_browser.py
// with demo data and the fake Claude of tests/fake_claude.py): sign-in with the printed link, ask (the real
// agent loop, the model faked over HTTP) with a chart, share, search with the histogram and an expanded record,
// a record posted during the test arriving in the live tail, the SQL guard's verdict, a saved question reopened.
// Run only by that test (it sets LOGLENS_E2E_CONSOLE_URL); screenshots go to LOGLENS_E2E_ARTIFACTS.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SIGN_IN_URL = process.env.LOGLENS_E2E_CONSOLE_URL ?? '';
const API_KEY = process.env.LOGLENS_E2E_API_KEY ?? '';
const ARTIFACTS = process.env.LOGLENS_E2E_ARTIFACTS ?? 'test-artifacts/real';
const README_SHOT = process.env.LOGLENS_E2E_README_SCREENSHOT; // docs/console.png when refreshing the README's
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const SUMMARY = /errors per hour over the last day/;
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

describe.skipIf(!SIGN_IN_URL)('the console against loglens dev', () => {
  const base = new URL(SIGN_IN_URL).origin;
  let context: BrowserContext;
  let profile = ""; // a fresh browser profile each run: no cookie of an earlier run can stand in
  let page: Page;
  const problems: string[] = [];
  const apiStatuses: { path: string; status: number }[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    context = await chromium.launchPersistentContext((profile = mkdtempSync(path.join(tmpdir(), 'loglens-console-real-'))), {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 860 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    // Console errors include CSP violations: the served policy must fit the build
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('response', (response) => {
      const url = new URL(response.url());
      if (url.pathname.startsWith('/api/')) apiStatuses.push({ path: url.pathname, status: response.status() });
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

  it('signs in with the link loglens dev printed, and keeps the cookie away from script', async () => {
    await page.goto(SIGN_IN_URL);
    await page.getByRole('heading', { name: 'Ask' }).waitFor();
    expect(new URL(page.url()).hash).toBe('#/');
    const [cookie] = await context.cookies(base);
    expect(cookie).toMatchObject({ name: `loglens_session_${new URL(base).port}`, httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  it('asks through the real agent loop and charts the answer', async () => {
    await page.getByLabel('Your question about the logs').fill('how many errors per hour over the last day?');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.getByRole('heading', { name: SUMMARY }).waitFor({ timeout: 60_000 });
    await expect.poll(() => page.locator('figure.chart canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('figure.chart').first().getAttribute('data-chart')).toMatch(/^time-/);
    expect(await page.locator('.table-scroll tbody tr').count()).toBeGreaterThan(5);
    if (README_SHOT) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: README_SHOT, fullPage: false }); // the question, the answer and its chart
    }
    await page.getByText(/The agent's steps/).click();
    await shot('ask');
  });

  it('shares the answer as a link that opens it again', async () => {
    await page.getByRole('button', { name: 'Share' }).click();
    const link = page.getByRole('status').filter({ hasText: 'Link to this answer' }).getByRole('link');
    const href = await link.getAttribute('href');
    expect(href).toMatch(/#\/answers\/[A-Za-z0-9_-]{22}$/);
    await page.goto(href!);
    await page.getByRole('heading', { name: 'Shared answer' }).waitFor();
    await page.getByRole('heading', { name: SUMMARY }).waitFor();
  });

  it('searches the demo data: histogram, records, an expanded record with its metadata', async () => {
    await page.goto(`${base}/#/search?service=payment-api&level=ERROR`);
    await page.locator('li.record').first().waitFor({ timeout: 20_000 });
    expect(await page.locator('li.record').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('figure.chart canvas').count()).toBeGreaterThan(0);
    const first = page.locator('.record-line').first();
    await first.focus();
    await page.keyboard.press('Enter');
    expect(await first.getAttribute('aria-expanded')).toBe('true');
    await page.locator('.record-detail').first().waitFor();
    await shot('search');
  });

  it('shows a record posted during the test in the live tail', async () => {
    await page.goto(`${base}/#/tail`);
    await page.getByRole('heading', { name: 'Live tail' }).waitFor();
    await page.waitForTimeout(1500); // the first poll is done: what comes now is new
    const message = `posted during the browser test ${Date.now()}`;
    const posted = await fetch(`${base}/api/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify({ level: 'ERROR', service: 'browser-e2e', message }),
    });
    expect(posted.status).toBe(200);
    await page.getByText(message).waitFor({ timeout: 10_000 });
    await shot('tail');
  });

  it("shows the SQL guard's verdict while typing and runs the SQL", async () => {
    await page.goto(`${base}/#/sql`);
    const editor = page.getByLabel('One read-only SELECT over logs and the summary views');
    await editor.fill('SELECT service, count(*) AS n FROM logs GROUP BY service');
    await page.getByText(/Refused \(unbounded_time\)/).waitFor();
    await editor.fill("SELECT service, count(*) AS n FROM logs WHERE created_at >= now() - interval '24 hours' GROUP BY service ORDER BY n DESC");
    await page.getByText('The guard allows this.').waitFor();
    await editor.press('Control+Enter');
    await expect.poll(() => page.locator('.table-scroll tbody tr').count()).toBeGreaterThan(2);
    await shot('sql');
  });

  it('saves the question and reopens it from the saved list', async () => {
    await page.goto(`${base}/#/`);
    await page.getByLabel('Your question about the logs').fill('how many errors per hour over the last day?');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.getByRole('heading', { name: SUMMARY }).waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Save question' }).click();
    await page.getByLabel('Name').fill('errors per hour');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('button', { name: 'Saved ✓' }).waitFor();
    await page.getByRole('link', { name: 'Saved' }).click();
    await page.getByRole('link', { name: 'errors per hour' }).click();
    await page.getByRole('heading', { name: SUMMARY }).waitFor({ timeout: 60_000 });
    expect(await page.getByLabel('Your question about the logs').inputValue()).toContain('errors per hour');
    await page.getByRole('link', { name: 'Saved' }).click();
    await page.getByRole('link', { name: 'errors per hour' }).waitFor();
    await shot('saved');
  });

  it('logged no browser errors (CSP violations included) and met no server error', () => {
    expect(problems, problems.join('\n')).toEqual([]);
    expect(apiStatuses.filter((r) => r.status >= 500)).toEqual([]);
    expect(apiStatuses.filter((r) => r.status === 401 || r.status === 403)).toEqual([]);
  });
});
