import { useState } from 'preact/hooks';
import { ApiError } from '../api';
import { useApi } from '../context';
import { formatCell } from '../format';
import type { Cell, SavedItem, SavedKind } from '../types';

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const status = error instanceof ApiError && error.status ? ` (HTTP ${error.status}${error.code ? `, ${error.code}` : ''})` : '';
  return (
    <p class="error" role="alert">
      {message}
      {status}
    </p>
  );
}

export function ResultTable({ columns, rows, caption, limit = 500 }: { columns: string[]; rows: Cell[][]; caption: string; limit?: number }) {
  if (!columns.length) return null;
  const shown = rows.slice(0, limit);
  return (
    <div class="table-scroll" tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th scope="col" key={column}>
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((row, r) => (
            <tr key={r}>
              {columns.map((column, c) => (
                <td key={column} class={typeof row[c] === 'number' ? 'num' : undefined}>
                  {formatCell(row[c])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length > shown.length ? <p class="muted">{rows.length - shown.length} more rows not shown</p> : null}
    </div>
  );
}

export function SqlBlock({ sql, label = 'SQL that ran' }: { sql: string; label?: string }) {
  return (
    <details class="sql-block">
      <summary>{label}</summary>
      <pre>
        <code>{sql}</code>
      </pre>
    </details>
  );
}

/** "Save" with a name prompt inline (no window.prompt: it is not keyboard- or test-friendly everywhere). */
export function SaveButton({ kind, body, suggestion }: { kind: SavedKind; body: SavedItem['body']; suggestion: string }) {
  const api = useApi();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(suggestion.slice(0, 200));
  const [state, setState] = useState<'idle' | 'saving' | 'saved'>('idle');
  const [error, setError] = useState<unknown>(null);
  if (!open) {
    return (
      <button type="button" class="secondary" onClick={() => setOpen(true)}>
        {state === 'saved' ? 'Saved ✓' : `Save ${kind === 'question' ? 'question' : kind === 'search' ? 'search' : 'SQL'}`}
      </button>
    );
  }
  return (
    <form
      class="inline-form"
      onSubmit={async (event) => {
        event.preventDefault();
        setState('saving');
        setError(null);
        try {
          await api.save(kind, name.trim(), body);
          setState('saved');
          setOpen(false);
        } catch (problem) {
          setError(problem);
          setState('idle');
        }
      }}
    >
      <label>
        Name
        <input value={name} maxLength={200} required onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled={state === 'saving' || !name.trim()}>
        Save
      </button>
      <button type="button" class="secondary" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <ErrorNote error={error} />
    </form>
  );
}
