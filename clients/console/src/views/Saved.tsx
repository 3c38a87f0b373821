// Saved questions, searches and SQL (GET/POST/DELETE /api/v1/saved): open one to run it again, delete your own.
import { useEffect, useState } from 'preact/hooks';
import { ErrorNote } from '../components/Common';
import { useApi } from '../context';
import { formatTime } from '../format';
import { href, paramsFromFilters } from '../router';
import type { SavedItem } from '../types';

export function openHref(item: SavedItem): string {
  if (item.kind === 'question') return href('ask', { q: item.body.question ?? '' });
  if (item.kind === 'search') return href('search', paramsFromFilters(item.body.filters ?? {}));
  return href('sql', { sql: item.body.sql ?? '' });
}

const TITLES = { question: 'Questions', search: 'Searches', sql: 'SQL' } as const;

export function Saved() {
  const api = useApi();
  const [items, setItems] = useState<SavedItem[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState('');
  const load = () =>
    api
      .saved()
      .then(setItems)
      .catch((problem) => setError(problem));
  useEffect(() => void load(), []);
  return (
    <section aria-labelledby="saved-title">
      <h1 id="saved-title">Saved</h1>
      <p role="status" aria-live="polite" class="muted">
        {status}
      </p>
      <ErrorNote error={error} />
      {items === null && !error ? <p class="muted">Loading…</p> : null}
      {items && !items.length ? <p>Nothing saved yet. Save a question, a search or SQL from its page.</p> : null}
      {(['question', 'search', 'sql'] as const).map((kind) => {
        const group = (items ?? []).filter((item) => item.kind === kind);
        if (!group.length) return null;
        return (
          <section key={kind} aria-labelledby={`saved-${kind}`}>
            <h2 id={`saved-${kind}`}>{TITLES[kind]}</h2>
            <ul class="saved">
              {group.map((item) => (
                <li key={item.id}>
                  <a href={openHref(item)}>{item.name}</a>
                  <span class="muted">
                    {' '}
                    by {item.created_by}, {formatTime(item.created_at)}
                  </span>
                  <button
                    type="button"
                    class="link danger"
                    aria-label={`Delete ${item.name}`}
                    onClick={async () => {
                      setError(null);
                      try {
                        await api.deleteSaved(item.id);
                        setStatus(`Deleted ${item.name}.`);
                        await load();
                      } catch (problem) {
                        setError(problem);
                      }
                    }}
                  >
                    Delete
                  </button>
                </li>
              ))}
            </ul>
          </section>
        );
      })}
    </section>
  );
}
