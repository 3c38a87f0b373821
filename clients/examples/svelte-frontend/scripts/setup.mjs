// Makes `npm run dev` (and build, preview) a single command: builds the local @loglens/client
// when its dist/ is missing, and installs this example's dependencies when they are missing or
// out of date.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const client = join(here, '..', '..', 'javascript');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (cwd, ...args) => execFileSync(npm, args, { cwd, stdio: 'inherit' });

if (!existsSync(join(client, 'dist', 'index.js'))) {
  console.log('setup: building @loglens/client (clients/javascript)');
  if (!existsSync(join(client, 'node_modules'))) run(client, 'ci');
  run(client, 'run', 'build');
}
const marker = join(here, 'node_modules', '.package-lock.json');
const lock = join(here, 'package-lock.json');
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.log('setup: installing dependencies');
  run(here, 'ci');
}
