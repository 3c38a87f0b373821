// @vitest-environment node
// The built console (npm test builds first) is what a browser downloads: within budget, and nothing else in it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUDGET_BYTES, bundleSizes } from '../scripts/size.mjs';

describe('the built console', () => {
  const { files, gzip } = bundleSizes();

  it(`weighs at most ${BUDGET_BYTES / 1024} KB gzipped`, () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(gzip).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it('is one page with its hashed assets, no source maps, loaded by relative paths', () => {
    expect(files.map((f) => f.file).sort()).toEqual(
      expect.arrayContaining(['index.html', expect.stringMatching(/^assets\/index-[\w-]+\.js$/), expect.stringMatching(/^assets\/index-[\w-]+\.css$/)]),
    );
    expect(files.some((f) => f.file.endsWith('.map'))).toBe(false);
    const html = readFileSync(new URL('../dist/index.html', import.meta.url), 'utf8');
    expect(html).toMatch(/src="\.\/assets\/index-[\w-]+\.js"/);
  });

  it('carries no API key, token or secret', () => {
    for (const file of files) {
      const text = readFileSync(new URL(`../dist/${file.file}`, import.meta.url), 'utf8');
      expect(text).not.toMatch(/x-api-key|AKIA[0-9A-Z]{16}|BEGIN (RSA )?PRIVATE KEY/i);
    }
  });
});
