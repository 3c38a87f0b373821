// The views against the real Api class over a scripted fetch, with fake timers for polling and debouncing.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiContext } from '../src/context';
import type { Answer } from '../src/types';
import { Ask, POLL_MS } from '../src/views/Ask';
import { openHref, Saved } from '../src/views/Saved';
import { PAGE, Search } from '../src/views/Search';
import { SharedAnswerView } from '../src/views/SharedAnswerView';
import { CHECK_DELAY_MS, Sql } from '../src/views/Sql';
import { Tail, TAIL_MS } from '../src/views/Tail';
import { fakeApi, type Handler } from './support/fake-fetch';
import { byText, click, mount, settle, typeInto } from './support/render';

const COLUMNS = ['event_id', 'created_at', 'level', 'service', 'message', 'trace_id', 'stack_trace', 'metadata'];
const row = (id: string, message: string, extra: Partial<Record<string, unknown>> = {}) =>
  COLUMNS.map((c) => ({ event_id: id, created_at: '2026-03-10T10:00:00+00:00', level: 'ERROR', service: 'checkout', message, trace_id: null, stack_trace: null, metadata: {}, ...extra })[c] ?? null);

export const ANSWER: Answer = {
  question: 'how many errors?',
  conversation_id: 'c-1',
  sql: "SELECT count(*) FROM logs WHERE created_at >= now() - interval '1 hour' LIMIT 1000",
  columns: ['count'],
  rows: [[342]],
  explanation: { summary: '342 errors in the last hour', key_insight: 'mostly payment-api', recommendation: 'check the pool' },
  performance: { query_ms: 12, rows: 1, row_limit_reached: false, indexes: [] },
  steps: 3,
  attempts: [
    { tool: 'run_query', sql: 'SELECT colour FROM logs', ok: false, error: 'unknown column "colour"' },
    { tool: 'run_query', sql: 'SELECT count(*) FROM logs …', ok: true, rows: 1, elapsed_ms: 12 },
  ],
  model: 'fake',
  latency_ms: 2100,
  complete: true,
};

function withApi(routes: Record<string, Handler>, view: preact.ComponentChild) {
  const { api, calls } = fakeApi(routes);
  return { calls, node: <ApiContext.Provider value={api}>{view}</ApiContext.Provider> };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  document.body.replaceChildren();
});

describe('Ask', () => {
  it('polls a running answer until it is there, then shows it with its steps and chart', async () => {
    let polls = 0;
    const { calls, node } = withApi(
      {
        'POST /api/v1/ask': () => ({ status: 202, body: { id: 'job-1', status: 'running' } }),
        'GET /api/v1/ask/job-1': () => (++polls < 3 ? { status: 202, body: { id: 'job-1', status: 'running' } } : { body: ANSWER }),
      },
      <Ask />,
    );
    const root = await mount(node);
    await typeInto(root.querySelector('textarea')!, 'how many errors?');
    await click(byText(root, 'button', 'Ask'));
    expect(root.querySelector('[role=status]')!.textContent).toMatch(/Working on it/);
    await settle(POLL_MS);
    await settle(POLL_MS);
    expect(root.querySelector('h2')).toBeNull();
    await settle(POLL_MS);
    expect(root.querySelector('h2')!.textContent).toBe('342 errors in the last hour');
    expect(calls.filter((c) => c.path === '/api/v1/ask/job-1')).toHaveLength(3);
    expect(root.querySelector('.big-number-value')!.textContent).toBe('342');
    expect(root.querySelector('.steps')!.textContent).toContain('unknown column "colour"');
    expect(root.querySelector<HTMLAnchorElement>('a[href^="#/sql?sql="]')).not.toBeNull();
    // A follow-up carries the conversation
    await click(byText(root, 'button', 'Ask a follow-up'));
    expect(calls.at(-1)!.body).toEqual({ question: 'how many errors?', conversation_id: 'c-1' });
  });

  it('shows the server error and lets the question be asked again', async () => {
    const { node } = withApi({ 'POST /api/v1/ask': () => ({ status: 503, body: { error: 'the model is not configured' } }) }, <Ask />);
    const root = await mount(node);
    await typeInto(root.querySelector('textarea')!, 'q');
    await click(byText(root, 'button', 'Ask'));
    expect(root.querySelector('[role=alert]')!.textContent).toContain('the model is not configured (HTTP 503)');
    expect(byText(root, 'button', 'Ask').hasAttribute('disabled')).toBe(false);
  });
});

describe('Search', () => {
  const histogram = { bucket: '1h', since: '2026-03-09T10:00:00+00:00', until: '2026-03-10T10:00:00+00:00', sql: 'SELECT date_bin…', elapsed_ms: 3, buckets: [{ start: '2026-03-10T09:00:00+00:00', count: 51 }] };

  it('searches from the URL, shows the histogram and records, expands one, and pages with the cursor', async () => {
    const first = Array.from({ length: PAGE }, (_, i) => row(`e-${i}`, `boom ${i}`, i === 0 ? { trace_id: 't-9', stack_trace: 'Traceback: boom', metadata: { order: 'A-7' } } : {}));
    const { calls, node } = withApi(
      {
        'POST /api/v1/query': ({ body }) =>
          (body as { cursor?: string }).cursor
            ? { body: { columns: COLUMNS, rows: [row('e-last', 'the last one')], sql: 'SELECT …', elapsed_ms: 2, cursor: null, limit_reached: false, since: histogram.since, until: histogram.until, histogram: null } }
            : { body: { columns: COLUMNS, rows: first, sql: 'SELECT …', elapsed_ms: 4, cursor: 'cur-1', limit_reached: true, since: histogram.since, until: histogram.until, histogram } },
      },
      <Search params={new URLSearchParams('service=checkout&level=ERROR,FATAL&metadata.region=eu')} />,
    );
    const root = await mount(node);
    await settle();
    expect(calls[0]!.body).toEqual({ filters: { service: 'checkout', level: ['ERROR', 'FATAL'], metadata: { region: 'eu' } }, limit: PAGE, histogram: true });
    expect(root.querySelector('[role=status]')!.textContent).toContain('51 matching records; showing 50.');
    expect(root.querySelector('figure.chart')!.getAttribute('data-chart')).toBe('time-bar');
    expect(root.querySelectorAll('li.record')).toHaveLength(PAGE);
    expect((root.querySelector('input[name=service]') as HTMLInputElement).value).toBe('checkout');
    const line = root.querySelector<HTMLButtonElement>('.record-line')!;
    expect(line.getAttribute('aria-expanded')).toBe('false');
    await click(line);
    expect(line.getAttribute('aria-expanded')).toBe('true');
    expect(root.querySelector('.stack')!.textContent).toBe('Traceback: boom');
    expect(root.querySelector('.record-detail pre:not(.wrap):not(.stack)')!.textContent).toContain('"order": "A-7"');
    expect(byText(root, 'a', 'Whole trace').getAttribute('href')).toBe('#/search?trace_id=t-9&since=7d');
    await click(byText(root, 'button', 'Load 50 more'));
    const searches = calls.filter((c) => c.path === '/api/v1/query');
    expect((searches[1]!.body as { cursor: string }).cursor).toBe('cur-1');
    expect(root.querySelectorAll('li.record')).toHaveLength(PAGE + 1);
    expect(root.textContent).not.toContain('Load 50 more');
  });

  it('shows a metadata filter that is not key=value as a form error, without searching', async () => {
    const { calls, node } = withApi({ 'POST /api/v1/query': () => ({ body: { columns: [], rows: [], sql: '', elapsed_ms: 1, cursor: null, limit_reached: false, since: '', until: '', histogram: null } }) }, <Search params={new URLSearchParams()} />);
    const root = await mount(node);
    await settle();
    await typeInto(root.querySelector('input[name=metadata]')!, 'region');
    await click(byText(root, 'button', 'Search'));
    expect(root.querySelector('[role=alert]')!.textContent).toBe('metadata "region" is not key=value');
    expect(calls.filter((c) => c.path === '/api/v1/query')).toHaveLength(1);
  });

  it('suggests the services and environments the facts name, and works without them', async () => {
    const empty = { columns: [], rows: [], sql: '', elapsed_ms: 1, cursor: null, limit_reached: false, since: '', until: '', histogram: null };
    const facts = {
      services: [{ value: 'payment-api', records: 90 }, { value: 'search-api', records: 12 }],
      environments: [{ value: 'production', records: 100 }],
      levels: [{ value: 'ERROR', records: 7 }],
      earliest: '2026-03-08T00:00:00+00:00',
      latest: '2026-03-10T10:00:00+00:00',
      hot_window_days: 30,
    };
    const { node } = withApi({ 'POST /api/v1/query': () => ({ body: empty }), 'GET /api/v1/facts': () => ({ body: facts }) }, <Search params={new URLSearchParams()} />);
    const root = await mount(node);
    await settle();
    expect(root.querySelector('input[name=service]')!.getAttribute('list')).toBe('known-services');
    expect([...root.querySelectorAll('#known-services option')].map((o) => o.getAttribute('value'))).toEqual(['payment-api', 'search-api']);
    expect([...root.querySelectorAll('#known-environments option')].map((o) => o.getAttribute('value'))).toEqual(['production']);
    // A server that cannot read them: no suggestions, no error shown
    const without = withApi({ 'POST /api/v1/query': () => ({ body: empty }), 'GET /api/v1/facts': () => ({ status: 503, body: { error: 'down' } }) }, <Search params={new URLSearchParams()} />);
    const plain = await mount(without.node);
    await settle();
    expect(plain.querySelectorAll('#known-services option')).toHaveLength(0);
    expect(plain.querySelector('[role=alert]')).toBeNull();
  });
});

describe('Live tail', () => {
  it('appends records as they arrive, polls again at once when more wait, and pauses without losing the cursor', async () => {
    const script = [
      { rows: [row('a', 'first')], cursor: 'c1', limit_reached: false },
      { rows: [], cursor: 'c2', limit_reached: false },
      { rows: [row('b', 'second'), row('c', 'third')], cursor: 'c3', limit_reached: true },
      { rows: [row('d', 'fourth')], cursor: 'c4', limit_reached: false },
      { rows: [], cursor: 'c5', limit_reached: false },
    ];
    let at = 0;
    const { calls, node } = withApi(
      { 'GET /api/v1/tail': () => ({ body: { columns: COLUMNS, sql: 'SELECT …', elapsed_ms: 1, ...script[Math.min(at++, script.length - 1)] } }) },
      <Tail params={new URLSearchParams('service=checkout&level=ERROR')} />,
    );
    const tails = () => calls.filter((c) => c.path === '/api/v1/tail');
    const root = await mount(node);
    await settle();
    expect(root.querySelectorAll('li.record')).toHaveLength(1);
    expect(Object.fromEntries(tails()[0]!.query)).toEqual({ service: 'checkout', level: 'ERROR' });
    await settle(TAIL_MS);
    await settle(TAIL_MS);
    await settle(1); // limit_reached: the next poll does not wait (a 0 ms timer set during a fake tick is 1 ms)
    expect([...root.querySelectorAll('.record-line .message')].map((m) => m.textContent)).toEqual(['first', 'second', 'third', 'fourth']);
    expect(tails().map((c) => c.query.get('cursor'))).toEqual([null, 'c1', 'c2', 'c3']);
    expect(root.querySelector('[aria-live=polite]')!.textContent).toBe('1 new record');
    await click(byText(root, 'button', 'Pause'));
    const before = tails().length;
    await settle(TAIL_MS * 5);
    expect(tails().length).toBe(before);
    await click(byText(root, 'button', 'Resume'));
    await settle();
    expect(tails().at(-1)!.query.get('cursor')).toBe('c4');
  });

  it('backs off and says so when the server fails, then recovers', async () => {
    let fail = true;
    const { calls, node } = withApi(
      { 'GET /api/v1/tail': () => (fail ? { status: 503, body: { error: 'database down' } } : { body: { columns: COLUMNS, rows: [row('x', 'back')], sql: '', elapsed_ms: 1, cursor: 'c', limit_reached: false } }) },
      <Tail params={new URLSearchParams()} />,
    );
    const root = await mount(node);
    await settle();
    expect(root.querySelector('[role=alert]')!.textContent).toContain('database down');
    fail = false;
    await settle(TAIL_MS);
    expect(calls.filter((c) => c.path === '/api/v1/tail')).toHaveLength(1); // backing off
    await settle(5000);
    expect(root.querySelector('[role=alert]')).toBeNull();
    expect(root.querySelector('.record-line .message')!.textContent).toBe('back');
  });
});

describe('SQL editor', () => {
  it('checks once typing pauses, shows the verdict, and runs', async () => {
    const { calls, node } = withApi(
      {
        'POST /api/v1/query/check': ({ body }) => {
          const sql = (body as { sql: string }).sql;
          return { body: sql.includes('created_at') ? { allowed: true, code: 'ok', reason: 'allowed; LIMIT 1000 added', sql: `${sql} LIMIT 1000` } : { allowed: false, code: 'unbounded_time', reason: 'queries on logs must filter created_at', sql: null } };
        },
        'POST /api/v1/query': () => ({ body: { columns: ['service', 'errors'], rows: [['api', 3], ['web', 1]], sql: 'SELECT …', elapsed_ms: 5, limit_reached: false, note: 'allowed; LIMIT 1000 added' } }),
      },
      <Sql initial="SELECT 1" />,
    );
    const root = await mount(node);
    const editor = root.querySelector('textarea')!;
    await typeInto(editor, 'SELECT * FROM l');
    await typeInto(editor, 'SELECT * FROM logs');
    await settle(CHECK_DELAY_MS);
    const checks = () => calls.filter((c) => c.path === '/api/v1/query/check');
    expect(checks().map((c) => c.body)).toEqual([{ sql: 'SELECT * FROM logs' }]);
    expect(root.querySelector('#verdict')!.textContent).toContain('Refused (unbounded_time)');
    await typeInto(editor, "SELECT service, count(*) AS errors FROM logs WHERE created_at >= now() - interval '1 hour' GROUP BY 1");
    await settle(CHECK_DELAY_MS);
    expect(root.querySelector('#verdict')!.textContent).toContain('The guard allows this.');
    await click(byText(root, 'button', 'Run'));
    expect(root.querySelectorAll('tbody tr')).toHaveLength(2);
    expect(root.querySelector('figure.chart')!.getAttribute('data-chart')).toBe('bars');
  });
});

describe('Saved and shared', () => {
  it('lists saved entries with links that run them again, and deletes', async () => {
    let items = [
      { id: 'i1', kind: 'question', name: 'errors today', body: { question: 'errors today?' }, created_by: 'me', created_at: '2026-03-10T10:00:00+00:00' },
      { id: 'i2', kind: 'search', name: 'checkout', body: { filters: { service: 'checkout', level: ['ERROR'] }, limit: 50 }, created_by: 'me', created_at: '2026-03-10T10:00:00+00:00' },
      { id: 'i3', kind: 'sql', name: 'counts', body: { sql: 'SELECT 1' }, created_by: 'me', created_at: '2026-03-10T10:00:00+00:00' },
    ];
    const { calls, node } = withApi(
      {
        'GET /api/v1/saved': () => ({ body: { items } }),
        'DELETE /api/v1/saved/i3': () => {
          items = items.filter((i) => i.id !== 'i3');
          return { status: 204 };
        },
      },
      <Saved />,
    );
    const root = await mount(node);
    await settle();
    const links = [...root.querySelectorAll('ul.saved a')].map((a) => a.getAttribute('href'));
    expect(links).toEqual(['#/ask?q=errors+today%3F', '#/search?service=checkout&level=ERROR', '#/sql?sql=SELECT+1']);
    expect(openHref(items[1] as never)).toBe(links[1]);
    await click(root.querySelector('button[aria-label="Delete counts"]')!);
    await settle();
    expect(calls.map((c) => c.method)).toEqual(['GET', 'DELETE', 'GET']);
    expect(root.querySelectorAll('ul.saved li')).toHaveLength(2);
  });

  it('opens a shared answer by its id', async () => {
    const { node } = withApi(
      { 'GET /api/v1/answers/AbCdEfGhIjKlMnOpQrStUv': () => ({ body: { id: 'AbCdEfGhIjKlMnOpQrStUv', answer: ANSWER, created_by: 'alice', created_at: '2026-03-10T10:00:00+00:00' } }) },
      <SharedAnswerView id="AbCdEfGhIjKlMnOpQrStUv" />,
    );
    const root = await mount(node);
    await settle();
    expect(root.querySelector('h2')!.textContent).toBe('342 errors in the last hour');
    expect(root.textContent).toContain('shared by alice');
    expect([...root.querySelectorAll('button')].map((b) => b.textContent)).not.toContain('Share');
  });
});
