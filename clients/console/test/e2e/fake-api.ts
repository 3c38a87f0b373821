// A small stand-in for `loglens dev` for the browser test: serves the built console and answers the routes the
// console uses (README.md) from memory, with the local sign-in (a one-time token traded for an HttpOnly cookie).
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };
export const COLUMNS = ['event_id', 'received_at', 'created_at', 'level', 'service', 'environment', 'message', 'trace_id', 'user_id', 'stack_trace', 'metadata'];

export interface LogRow {
  event_id: string;
  created_at: string;
  level: string;
  service: string;
  message: string;
  trace_id: string | null;
  stack_trace?: string | null;
  metadata?: Record<string, unknown>;
}

function toRow(record: LogRow): unknown[] {
  const full: Record<string, unknown> = { received_at: record.created_at, environment: 'e2e', user_id: null, stack_trace: null, metadata: {}, ...record };
  return COLUMNS.map((column) => full[column] ?? null);
}

export function makeRecords(count: number, now = Date.now()): LogRow[] {
  return Array.from({ length: count }, (_, i) => ({
    event_id: randomUUID(),
    created_at: new Date(now - i * 60_000).toISOString(),
    level: i % 7 === 0 ? 'ERROR' : 'INFO',
    service: i % 2 ? 'search-api' : 'checkout',
    message: i % 7 === 0 ? `payment timeout ${i}` : `request handled ${i}`,
    trace_id: i < 3 ? 'trace-e2e' : `trace-${i}`,
    stack_trace: i % 7 === 0 ? `Traceback (most recent call last):\n  File "pay.py", line ${i}\nTimeoutError: payment timeout ${i}` : null,
    metadata: { order_id: `A-${i}`, region: 'eu' },
  }));
}

export function answerFor(question: string, conversationId: string | null) {
  const hour = (h: number) => new Date(Date.UTC(2026, 2, 10, h)).toISOString();
  return {
    question,
    conversation_id: conversationId ?? randomUUID(),
    sql: "SELECT date_trunc('hour', created_at) AS hour, count(*) AS errors FROM logs WHERE created_at >= now() - interval '12 hours' AND level = 'ERROR' GROUP BY 1 ORDER BY 1 LIMIT 1000",
    columns: ['hour', 'errors'],
    rows: Array.from({ length: 12 }, (_, h) => [hour(h), [3, 4, 2, 5, 3, 4, 28, 31, 6, 4, 3, 2][h]]),
    explanation: {
      summary: '95 payment errors in the last 12 hours, 59 of them between 06:00 and 08:00',
      key_insight: 'a spike of DatabaseConnectionTimeout in payment-api',
      recommendation: "check payment-api's connection pool",
      baseline: null,
    },
    performance: { query_ms: 14.2, rows: 12, row_limit_reached: false, partitions_scanned: 1, partitions_total: 31, indexes: ['idx_service_level_time'] },
    usage: { input_tokens: 3000, output_tokens: 200, cache_creation_input_tokens: 0, cache_read_input_tokens: 2500 },
    steps: 3,
    attempts: [
      { tool: 'run_query', sql: 'SELECT hour, errors FROM logs', ok: false, error: 'refused by the SQL guard (unknown_column): unknown column "hour"', elapsed_ms: null, rows: null },
      { tool: 'run_query', sql: "SELECT date_trunc('hour', created_at) AS hour, count(*) …", ok: true, error: null, elapsed_ms: 14.2, rows: 12 },
    ],
    model: 'fake-claude',
    latency_ms: 2300,
    complete: true,
  };
}

export interface FakeApi {
  url: string;
  token: string;
  records: LogRow[];
  requests: { method: string; path: string; cookie: boolean }[];
  add(record: Partial<LogRow>): LogRow;
  close(): Promise<void>;
}

export async function startFakeApi(): Promise<FakeApi> {
  const token = `tok-${randomUUID().replace(/-/g, '')}`;
  const session = randomUUID();
  const records = makeRecords(120); // newest first
  const stored: LogRow[] = []; // in the order stored, for tail
  const jobs = new Map<string, { polls: number; question: string; conversation: string | null }>();
  const saved: Record<string, unknown>[] = [];
  const answers = new Map<string, unknown>();
  const requests: FakeApi['requests'] = []; // every request, to check none went out without the cookie

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await readBody(req);
    const signedIn = (req.headers.cookie ?? '').split(/;\s*/).includes(`loglens_session=${session}`);
    requests.push({ method: req.method ?? 'GET', path: url.pathname, cookie: signedIn });
    const json = (status: number, value?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(value === undefined ? '' : JSON.stringify(value));
    };
    if (!url.pathname.startsWith('/api/')) {
      if (url.pathname === '/config.json') return json(200, { auth: 'cookie' });
      return serveStatic(url.pathname, res);
    }
    if (url.pathname === '/api/v1/session' && req.method === 'POST') {
      if ((body as { token?: string } | null)?.token !== token) return json(401, { error: 'this sign-in link is not valid (any more)' });
      return json(204, undefined, { 'set-cookie': `loglens_session=${session}; HttpOnly; SameSite=Strict; Path=/` });
    }
    if (!signedIn) return json(401, { error: 'sign in first: open the console URL loglens dev prints' });
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /api/v1/ask') {
      const { question, conversation_id } = body as { question: string; conversation_id?: string };
      const id = randomUUID();
      jobs.set(id, { polls: 0, question, conversation: conversation_id ?? null });
      return json(202, { id, status: 'running' });
    }
    const job = /^GET \/api\/v1\/ask\/([\w-]+)$/.exec(route);
    if (job) {
      const state = jobs.get(job[1]!);
      if (!state) return json(404, { error: 'no such question' });
      if (++state.polls < 2) return json(202, { id: job[1], status: 'running' });
      return json(200, answerFor(state.question, state.conversation));
    }
    if (route === 'POST /api/v1/query/check') {
      const sql = String((body as { sql: string }).sql);
      return json(200, sql.includes('created_at')
        ? { allowed: true, code: 'ok', reason: 'allowed; LIMIT 1000 added', sql: `${sql.trim()} LIMIT 1000` }
        : { allowed: false, code: 'unbounded_time', reason: "queries on logs must filter created_at in the WHERE, e.g. WHERE created_at >= now() - interval '24 hours'", sql: null });
    }
    if (route === 'POST /api/v1/query') {
      const request = body as { sql?: string; filters?: Record<string, unknown>; limit?: number; cursor?: string; histogram?: boolean };
      if (request.sql !== undefined) {
        if (!request.sql.includes('created_at')) return json(400, { error: 'refused by the SQL guard (unbounded_time)', code: 'unbounded_time' });
        return json(200, { columns: ['service', 'errors'], rows: [['payment-api', 59], ['search-api', 21], ['user-api', 15]], sql: `${request.sql} LIMIT 1000`, elapsed_ms: 9.5, limit_reached: false, note: 'allowed; LIMIT 1000 added' });
      }
      return json(200, search(records, request));
    }
    if (route === 'GET /api/v1/tail') {
      const cursor = url.searchParams.get('cursor');
      const service = url.searchParams.get('service');
      const from = cursor ? Number(cursor) : stored.length;
      const rows = stored.slice(from).filter((r) => !service || r.service === service);
      return json(200, { columns: COLUMNS, rows: rows.map(toRow), sql: 'SELECT … stored_xid …', elapsed_ms: 1.1, cursor: String(stored.length), limit_reached: false });
    }
    if (route === 'GET /api/v1/facts') {
      const count = (key: 'service' | 'level') => [...new Set(records.map((r) => r[key]))].map((value) => ({ value, records: records.filter((r) => r[key] === value).length }));
      return json(200, { services: count('service'), environments: [{ value: 'e2e', records: records.length }], levels: count('level'), earliest: records.at(-1)?.created_at ?? null, latest: records[0]?.created_at ?? null, hot_window_days: 30 });
    }
    if (route === 'GET /api/v1/saved') return json(200, { items: [...saved].reverse() });
    if (route === 'POST /api/v1/saved') {
      const item = { id: randomUUID(), ...(body as object), created_by: 'local', created_at: new Date().toISOString() };
      saved.push(item);
      return json(201, item);
    }
    const deleting = /^DELETE \/api\/v1\/saved\/([\w-]+)$/.exec(route);
    if (deleting) {
      const at = saved.findIndex((item) => item.id === deleting[1]);
      if (at < 0) return json(404, { error: 'no saved entry' });
      saved.splice(at, 1);
      return json(204);
    }
    if (route === 'POST /api/v1/answers') {
      const id = randomUUID().replace(/-/g, '').slice(0, 22);
      const shared = { id, answer: (body as { answer: unknown }).answer, created_by: 'local', created_at: new Date().toISOString() };
      answers.set(id, shared);
      return json(201, shared);
    }
    const answer = /^GET \/api\/v1\/answers\/([\w-]+)$/.exec(route);
    if (answer) return answers.has(answer[1]!) ? json(200, answers.get(answer[1]!)) : json(404, { error: 'no shared answer' });
    return json(404, { message: 'Missing Authentication Token' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    records,
    requests,
    add(partial) {
      const record: LogRow = { event_id: randomUUID(), created_at: new Date().toISOString(), level: 'INFO', service: 'checkout', message: 'added', trace_id: null, ...partial };
      stored.push(record);
      records.unshift(record);
      return record;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function search(records: LogRow[], request: { filters?: Record<string, unknown>; limit?: number; cursor?: string; histogram?: boolean }) {
  const filters = request.filters ?? {};
  const levels = filters.level as string[] | undefined;
  const matching = records.filter(
    (r) =>
      (!filters.service || r.service === filters.service) &&
      (!levels || levels.includes(r.level)) &&
      (!filters.trace_id || r.trace_id === filters.trace_id) &&
      (!filters.contains || r.message.toLowerCase().includes(String(filters.contains).toLowerCase())),
  );
  const limit = request.limit ?? 100;
  const offset = request.cursor ? Number(request.cursor) : 0;
  const page = matching.slice(offset, offset + limit);
  const until = new Date();
  const since = new Date(until.getTime() - 24 * 3600_000);
  const histogram = request.histogram
    ? {
        bucket: '1h',
        since: since.toISOString(),
        until: until.toISOString(),
        sql: 'SELECT date_bin(…)',
        elapsed_ms: 2.5,
        buckets: Array.from({ length: 24 }, (_, h) => {
          const start = new Date(Math.floor(since.getTime() / 3600_000) * 3600_000 + h * 3600_000);
          const end = start.getTime() + 3600_000;
          return { start: start.toISOString(), count: matching.filter((r) => Date.parse(r.created_at) >= start.getTime() && Date.parse(r.created_at) < end).length };
        }),
      }
    : null;
  const more = offset + limit < matching.length;
  return { columns: COLUMNS, rows: page.map(toRow), sql: 'SELECT … FROM logs …', elapsed_ms: 3.2, cursor: more ? String(offset + limit) : null, limit_reached: more, since: since.toISOString(), until: until.toISOString(), histogram };
}

function serveStatic(pathname: string, res: http.ServerResponse) {
  const file = path.join(DIST, pathname === '/' ? 'index.html' : path.normalize(pathname).replace(/^([/\\])+/, ''));
  if (!file.startsWith(DIST) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
  res.end(readFileSync(file));
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text ? JSON.parse(text) : null);
      } catch {
        resolve(null);
      }
    });
  });
}
