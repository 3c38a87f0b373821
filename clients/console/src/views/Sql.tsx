// The SQL editor: the guard's verdict while you type (POST /api/v1/query/check, debounced, nothing runs), then
// Run (POST /api/v1/query {"sql"}) on the read-only analyst role with the agent's row cap and timeout.
import { useEffect, useState } from 'preact/hooks';
import { ResultChart } from '../components/Chart';
import { ErrorNote, ResultTable, SaveButton, SqlBlock } from '../components/Common';
import { useApi } from '../context';
import { formatNumber } from '../format';
import type { SqlCheck, SqlResult } from '../types';

export const CHECK_DELAY_MS = 400;
const EXAMPLE = "SELECT service, count(*) AS errors\nFROM logs\nWHERE created_at >= now() - interval '24 hours' AND level IN ('ERROR', 'FATAL')\nGROUP BY service\nORDER BY errors DESC";

export function Sql({ initial }: { initial?: string }) {
  const api = useApi();
  const [sql, setSql] = useState(initial ?? EXAMPLE);
  const [verdict, setVerdict] = useState<SqlCheck | null>(null);
  const [checking, setChecking] = useState(false);
  const [result, setResult] = useState<SqlResult | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (initial !== undefined) setSql(initial);
  }, [initial]);

  useEffect(() => {
    if (!sql.trim()) {
      setVerdict(null);
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(async () => {
      setChecking(true);
      try {
        setVerdict(await api.check(sql, controller.signal));
      } catch (problem) {
        if ((problem as Error).name !== 'AbortError') setVerdict({ allowed: false, code: 'check_failed', reason: (problem as Error).message, sql: null });
      } finally {
        if (!controller.signal.aborted) setChecking(false);
      }
    }, CHECK_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [sql]);

  const run = async () => {
    if (!sql.trim() || busy) return;
    setBusy(true);
    setError(null);
    try {
      setResult(await api.sql(sql));
    } catch (problem) {
      setError(problem);
      setResult(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="sql-title">
      <h1 id="sql-title">SQL</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void run();
        }}
      >
        <label for="sql-text">One read-only SELECT over logs and the summary views</label>
        <textarea
          id="sql-text"
          class="code"
          rows={8}
          spellcheck={false}
          value={sql}
          aria-describedby="verdict"
          onInput={(event) => setSql(event.currentTarget.value)}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
              event.preventDefault();
              void run();
            }
          }}
        />
        <div id="verdict" class={`verdict ${verdict ? (verdict.allowed ? 'allowed' : 'refused') : ''}`} role="status" aria-live="polite">
          {checking && !verdict ? 'Checking…' : null}
          {verdict ? (
            verdict.allowed ? (
              <>
                <strong>✓ The guard allows this.</strong> <span>{verdict.reason}</span>
              </>
            ) : (
              <>
                <strong>✗ Refused ({verdict.code}):</strong> <span>{verdict.reason}</span>
              </>
            )
          ) : null}
        </div>
        {verdict?.allowed && verdict.sql ? <SqlBlock sql={verdict.sql} label="SQL as it will run" /> : null}
        <div class="actions">
          <button type="submit" disabled={busy || !sql.trim()}>
            Run
          </button>
          <SaveButton kind="sql" body={{ sql }} suggestion={sql.split('\n')[0] ?? 'SQL'} />
          <span class="hint">Ctrl+Enter runs</span>
        </div>
      </form>
      <ErrorNote error={error} />
      {result ? (
        <>
          <p role="status" class="muted">
            {result.rows.length.toLocaleString()} rows{result.limit_reached ? ' (the row cap was reached)' : ''} · {formatNumber(result.elapsed_ms)} ms · {result.note}
          </p>
          <ResultChart columns={result.columns} rows={result.rows} />
          <ResultTable columns={result.columns} rows={result.rows} caption="Query result" />
        </>
      ) : null}
    </section>
  );
}
