// Live tail: GET /api/v1/tail about once a second, records appended as they are stored. Pause keeps the cursor,
// so resuming misses nothing; changing the filters starts again. New records are announced politely (a count,
// not every line) to screen readers.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorNote } from '../components/Common';
import { RecordList } from '../components/RecordList';
import { Suggestions, useFacts } from '../components/Suggestions';
import { useApi } from '../context';
import { records } from '../format';
import { href } from '../router';
import { LEVELS, type Cell } from '../types';

export const TAIL_MS = 1000;
export const KEEP = 1000; // records kept on screen; older ones scroll away
const BACKOFF_MS = 5000;

interface TailFilters {
  service: string;
  level: string[];
  contains: string;
}

export function Tail({ params }: { params: URLSearchParams }) {
  const api = useApi();
  const initial: TailFilters = {
    service: params.get('service') ?? '',
    level: (params.get('level') ?? '').split(',').filter(Boolean),
    contains: params.get('contains') ?? '',
  };
  const [form, setForm] = useState<TailFilters>(initial);
  const [filters, setFilters] = useState<TailFilters>(initial);
  const [running, setRunning] = useState(true);
  const [columns, setColumns] = useState<string[]>([]);
  const [rows, setRows] = useState<Cell[][]>([]);
  const [announcement, setAnnouncement] = useState('');
  const [error, setError] = useState<unknown>(null);
  // "Waiting" only once the server has given a cursor: a record stored before that first answer is
  // not the tail's (the tail starts at the first answer), so the page must not invite one earlier.
  const [connected, setConnected] = useState(false);
  const cursor = useRef<string | null>(null);
  const list = useRef<HTMLDivElement>(null);

  useEffect(() => {
    cursor.current = null;
    setConnected(false);
    setRows([]);
  }, [filters]);

  useEffect(() => {
    if (!running) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const controller = new AbortController();
    const poll = async () => {
      let wait = TAIL_MS;
      try {
        const result = await api.tail(
          { cursor: cursor.current, service: filters.service.trim(), level: filters.level, contains: filters.contains },
          controller.signal,
        );
        if (stopped) return;
        cursor.current = result.cursor;
        setConnected(true);
        setError(null);
        if (result.rows.length) {
          const box = list.current;
          const atBottom = !box || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
          setColumns(result.columns);
          setRows((old) => [...old, ...result.rows].slice(-KEEP));
          setAnnouncement(`${result.rows.length} new ${result.rows.length === 1 ? 'record' : 'records'}`);
          if (atBottom) requestAnimationFrame(() => box && (box.scrollTop = box.scrollHeight));
        }
        if (result.limit_reached) wait = 0; // more are waiting
      } catch (problem) {
        if (stopped || (problem as Error).name === 'AbortError') return;
        setError(problem);
        wait = BACKOFF_MS;
      }
      if (!stopped) timer = setTimeout(poll, wait);
    };
    void poll();
    return () => {
      stopped = true;
      controller.abort();
      clearTimeout(timer);
    };
  }, [running, filters]);
  const facts = useFacts(); // after the first poll: the records go out first

  return (
    <section aria-labelledby="tail-title">
      <h1 id="tail-title">Live tail</h1>
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          setFilters({ ...form });
          const query: Record<string, string> = {};
          if (form.service.trim()) query.service = form.service.trim();
          if (form.level.length) query.level = form.level.join(',');
          if (form.contains) query.contains = form.contains;
          history.replaceState(null, '', href('tail', query));
        }}
      >
        <label>
          Service
          <input name="service" value={form.service} onInput={(e) => setForm({ ...form, service: e.currentTarget.value })} list="tail-services" />
          <Suggestions id="tail-services" values={facts?.services} />
        </label>
        <fieldset class="levels">
          <legend>Level</legend>
          {LEVELS.map((level) => (
            <label key={level} class="check">
              <input
                type="checkbox"
                checked={form.level.includes(level)}
                onChange={(e) =>
                  setForm({ ...form, level: e.currentTarget.checked ? [...form.level, level] : form.level.filter((l) => l !== level) })
                }
              />
              {level}
            </label>
          ))}
        </fieldset>
        <label class="wide">
          Message contains
          <input name="message_contains" type="search" value={form.contains} maxLength={500} onInput={(e) => setForm({ ...form, contains: e.currentTarget.value })} />
        </label>
        <div class="actions">
          <button type="submit">Apply filters</button>
          <button type="button" class="secondary" aria-pressed={!running} onClick={() => setRunning(!running)}>
            {running ? 'Pause' : 'Resume'}
          </button>
          <button type="button" class="secondary" onClick={() => setRows([])}>
            Clear
          </button>
        </div>
      </form>
      <p class="muted">
        {running ? 'Following: new records appear as they are stored.' : 'Paused: nothing is missed; Resume continues from here.'}
      </p>
      <p class="visually-hidden" aria-live="polite" role="status">
        {announcement}
      </p>
      <ErrorNote error={error} />
      <div class="tail-box" ref={list} tabIndex={0} role="region" aria-label="Tailed records">
        {rows.length ? <RecordList records={records(columns, rows)} label="Records in the order stored" /> : <p class="muted">{connected ? 'Waiting for records…' : 'Connecting…'}</p>}
      </div>
    </section>
  );
}
