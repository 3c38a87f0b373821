// The console's weight as a browser downloads it: every file in dist/, gzipped. Fails the build over budget.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const BUDGET_BYTES = 250 * 1024;
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

export function bundleSizes(dist = DIST) {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else {
        const bytes = readFileSync(full);
        files.push({ file: path.relative(dist, full), bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
      }
    }
  };
  walk(dist);
  return { files, gzip: files.reduce((sum, f) => sum + f.gzip, 0), bytes: files.reduce((sum, f) => sum + f.bytes, 0) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { files, gzip, bytes } = bundleSizes();
  for (const f of files) console.log(`${f.file.padEnd(40)} ${(f.bytes / 1024).toFixed(1).padStart(8)} KB  ${(f.gzip / 1024).toFixed(1).padStart(7)} KB gzip`);
  console.log(`${'total'.padEnd(40)} ${(bytes / 1024).toFixed(1).padStart(8)} KB  ${(gzip / 1024).toFixed(1).padStart(7)} KB gzip (budget ${BUDGET_BYTES / 1024} KB)`);
  if (gzip > BUDGET_BYTES) {
    console.error(`the console is ${(gzip / 1024).toFixed(1)} KB gzipped, over the ${BUDGET_BYTES / 1024} KB budget`);
    process.exit(1);
  }
}
