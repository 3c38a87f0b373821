// Search with filters: a histogram of the matching records over time, then the records, newest first, a page at
// a time (the cursor). The filters live in the URL (#/search?service=...), so a search is a link: "whole
// trace" links, saved searches and the browser's back button all work the same way.
import { useEffect, useState } from 'preact/hooks';
import type { ChartSpec } from '../chart';
import { ChartView } from '../components/Chart';
import { ErrorNote, SaveButton, SqlBlock } from '../components/Common';
import { RecordList } from '../components/RecordList';
import { Suggestions, useFacts } from '../components/Suggestions';
import { useApi } from '../context';
import { formatNumber, records } from '../format';
import { filtersFromParams, href, paramsFromFilters } from '../router';
import { LEVELS, type Cell, type Histogram, type SearchFilters } from '../types';

export const PAGE = 50;
const RANGES = [
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['6h', 'Last 6 hours'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['custom', 'Custom range'],
] as const;

interface Form {
  service: string;
  levels: string[];
  environment: string;
  range: string;
  since: string;
  until: string;
  contains: string;
  trace_id: string;
  user_id: string;
  metadata: string;
}

function formFrom(filters: SearchFilters): Form {
  const preset = !filters.until && RANGES.some(([value]) => value === (filters.since ?? '24h'));
  return {
    service: filters.service ?? '',
    levels: filters.level ?? [],
    environment: filters.environment ?? '',
    range: preset ? (filters.since ?? '24h') : 'custom',
    since: preset ? '' : (filters.since ?? ''),
    until: filters.until ?? '',
    contains: filters.contains ?? '',
    trace_id: filters.trace_id ?? '',
    user_id: filters.user_id ?? '',
    metadata: Object.entries(filters.metadata ?? {})
      .map(([key, value]) => `${key}=${value}`)
      .join(', '),
  };
}

/** "region=eu, order_id=A-7" as a metadata filter; a part without "=" is an error the form shows. */
export function parseMetadata(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    if (at <= 0) throw new Error(`metadata "${part}" is not key=value`);
    out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return out;
}

function filtersFrom(form: Form): SearchFilters {
  const filters: SearchFilters = {};
  if (form.service.trim()) filters.service = form.service.trim();
  if (form.levels.length) filters.level = form.levels;
  if (form.environment.trim()) filters.environment = form.environment.trim();
  if (form.range === 'custom') {
    if (form.since.trim()) filters.since = form.since.trim();
    if (form.until.trim()) filters.until = form.until.trim();
  } else if (form.range !== '24h') {
    filters.since = form.range;
  }
  if (form.contains.trim()) filters.contains = form.contains;
  if (form.trace_id.trim()) filters.trace_id = form.trace_id.trim();
  if (form.user_id.trim()) filters.user_id = form.user_id.trim();
  const metadata = parseMetadata(form.metadata);
  if (Object.keys(metadata).length) filters.metadata = metadata;
  return filters;
}

export function histogramSpec(histogram: Histogram): ChartSpec {
  return {
    kind: 'time',
    style: 'bar',
    xLabel: `time (${histogram.bucket} buckets)`,
    x: histogram.buckets.map((bucket) => Date.parse(bucket.start) / 1000),
    series: [{ label: 'records', values: histogram.buckets.map((bucket) => bucket.count) }],
  };
}

export function Search({ params }: { params: URLSearchParams }) {
  const api = useApi();
  const key = params.toString();
  const filters = filtersFromParams(params);
  const [form, setForm] = useState<Form>(() => formFrom(filters));
  const [formError, setFormError] = useState<string | null>(null);
  const [rows, setRows] = useState<Cell[][]>([]);
  const [columns, setColumns] = useState<string[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [histogram, setHistogram] = useState<Histogram | null>(null);
  const [sql, setSql] = useState('');
  const [elapsed, setElapsed] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [runs, setRuns] = useState(0);

  useEffect(() => {
    setForm(formFrom(filters));
    let current = true;
    setBusy(true);
    setError(null);
    setStatus('Searching…');
    api
      .search({ filters, limit: PAGE, histogram: true })
      .then((result) => {
        if (!current) return;
        setColumns(result.columns);
        setRows(result.rows);
        setCursor(result.cursor);
        setHistogram(result.histogram);
        setSql(result.sql);
        setElapsed(result.elapsed_ms);
        const total = result.histogram?.buckets.reduce((sum, b) => sum + b.count, 0);
        setStatus(`${total !== undefined ? `${formatNumber(total)} matching records; ` : ''}showing ${result.rows.length}.`);
      })
      .catch((problem) => {
        if (!current) return;
        setError(problem);
        setRows([]);
        setHistogram(null);
        setStatus('');
      })
      .finally(() => current && setBusy(false));
    return () => {
      current = false;
    };
  }, [key, runs]);

  const facts = useFacts(); // after the search: the search goes out first

  const more = async () => {
    if (!cursor) return;
    setBusy(true);
    try {
      const result = await api.search({ filters, limit: PAGE, cursor });
      setRows((old) => [...old, ...result.rows]);
      setCursor(result.cursor);
      setStatus(`Showing ${rows.length + result.rows.length}.`);
    } catch (problem) {
      setError(problem);
    } finally {
      setBusy(false);
    }
  };

  const set = (field: keyof Form) => (event: Event) => setForm({ ...form, [field]: (event.currentTarget as HTMLInputElement).value });

  return (
    <section aria-labelledby="search-title">
      <h1 id="search-title">Search</h1>
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          try {
            const next = filtersFrom(form);
            setFormError(null);
            const target = href('search', paramsFromFilters(next));
            if (target === window.location.hash) setRuns(runs + 1); // the same search again: no hashchange
            else window.location.hash = target;
          } catch (problem) {
            setFormError((problem as Error).message);
          }
        }}
      >
        <label>
          Service
          <input name="service" value={form.service} onInput={set('service')} autoComplete="off" list="known-services" />
          <Suggestions id="known-services" values={facts?.services} />
        </label>
        <fieldset class="levels">
          <legend>Level</legend>
          {LEVELS.map((level) => (
            <label key={level} class="check">
              <input
                type="checkbox"
                name="level"
                value={level}
                checked={form.levels.includes(level)}
                onChange={(event) =>
                  setForm({
                    ...form,
                    levels: event.currentTarget.checked ? [...form.levels, level] : form.levels.filter((l) => l !== level),
                  })
                }
              />
              {level}
            </label>
          ))}
        </fieldset>
        <label>
          Environment
          <input name="environment" value={form.environment} onInput={set('environment')} autoComplete="off" list="known-environments" />
          <Suggestions id="known-environments" values={facts?.environments} />
        </label>
        <label>
          Time range
          <select name="range" value={form.range} onChange={set('range')}>
            {RANGES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        {form.range === 'custom' ? (
          <>
            <label>
              Since <span class="hint">(ISO time or 15m, 24h, 7d)</span>
              <input name="since" value={form.since} onInput={set('since')} placeholder="2026-01-02T10:00:00Z" />
            </label>
            <label>
              Until <span class="hint">(empty: now)</span>
              <input name="until" value={form.until} onInput={set('until')} />
            </label>
          </>
        ) : null}
        <label class="wide">
          Message contains
          <input name="message_contains" type="search" value={form.contains} maxLength={500} onInput={set('contains')} />
        </label>
        <label>
          Trace id
          <input name="trace_id" value={form.trace_id} onInput={set('trace_id')} autoComplete="off" />
        </label>
        <label>
          User id
          <input name="user_id" value={form.user_id} onInput={set('user_id')} autoComplete="off" />
        </label>
        <label class="wide">
          Metadata <span class="hint">(key=value, comma-separated)</span>
          <input name="metadata" value={form.metadata} onInput={set('metadata')} placeholder="region=eu-west-1, order_id=A-7" />
        </label>
        <div class="actions">
          <button type="submit" disabled={busy}>
            Search
          </button>
          <SaveButton kind="search" body={{ filters, limit: PAGE }} suggestion={describe(filters)} />
        </div>
        {formError ? (
          <p class="error" role="alert">
            {formError}
          </p>
        ) : null}
      </form>
      <p role="status" aria-live="polite" class="muted">
        {status}
        {elapsed !== null && !busy ? ` Query ${formatNumber(elapsed)} ms.` : ''}
      </p>
      <ErrorNote error={error} />
      {histogram ? <ChartView spec={histogramSpec(histogram)} height={160} /> : null}
      {rows.length ? <RecordList records={records(columns, rows)} label="Matching records, newest first" /> : null}
      {!busy && !error && !rows.length ? <p>No records match.</p> : null}
      {cursor ? (
        <button type="button" class="secondary" disabled={busy} onClick={more}>
          Load {PAGE} more
        </button>
      ) : null}
      {sql ? <SqlBlock sql={sql} /> : null}
    </section>
  );
}

function describe(filters: SearchFilters): string {
  const parts = Object.entries(filters).map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('|') : typeof value === 'object' ? JSON.stringify(value) : value}`);
  return parts.join(' ') || 'all records, last 24 h';
}
