// Smoke test of the packed tarball, run by `make test-packages` from a scratch folder where the
// tarball (and pino, winston) were installed: every import below resolves to node_modules/@loglens/client.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import winston from 'winston';
import LogHelper from '@loglens/client';
import { LoglensTransport } from '@loglens/client/winston';

const require = createRequire(join(process.cwd(), 'index.js'));
const packageDir = dirname(require.resolve('@loglens/client/package.json'));
assert.ok(packageDir.includes('node_modules'), `resolved ${packageDir}, not the installed tarball`);
for (const file of ['index.js', 'index.d.ts', 'pino.js', 'pino.d.ts', 'winston.js', 'winston.d.ts']) {
  assert.ok(existsSync(join(packageDir, 'dist', file)), `dist/${file} is missing from the tarball`);
}
assert.equal(require.resolve('@loglens/client/pino'), join(packageDir, 'dist', 'pino.js')); // how pino finds targets

const received = [];
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    const { logs } = JSON.parse(body.toString('utf8'));
    received.push(...logs);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ accepted: logs.length, rejected: [] }));
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const options = { logServerUrl: `http://127.0.0.1:${server.address().port}`, flushIntervalMs: 60_000 };

const helper = new LogHelper({ ...options, service: 'smoke-helper' });
helper.info('from LogHelper');
await helper.destroy();

// pino.transport runs in a worker that the main thread waits for at exit, so it runs in a child
// process: this one keeps serving HTTP meanwhile.
const pinoScript = `
  import pino from 'pino';
  const options = ${JSON.stringify({ ...options, service: 'smoke-pino' })};
  pino(pino.transport({ target: '@loglens/client/pino', options })).warn('from pino');
`;
const child = spawn(process.execPath, ['--input-type=module', '-e', pinoScript], { stdio: 'inherit' });
assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0);

const winstonTransport = new LoglensTransport({ ...options, service: 'smoke-winston' });
winston.createLogger({ transports: [winstonTransport] }).error('from winston');
await winstonTransport.shutdown();
server.close();

assert.deepEqual(
  received.map((r) => [r.service, r.level, r.message]),
  [
    ['smoke-helper', 'INFO', 'from LogHelper'],
    ['smoke-pino', 'WARN', 'from pino'],
    ['smoke-winston', 'ERROR', 'from winston'],
  ],
);
console.log(`tarball smoke test: @loglens/client from ${packageDir}: 3 records delivered`);
