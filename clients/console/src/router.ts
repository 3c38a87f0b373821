// Hash routes, so the same files work from `loglens dev` at / and from S3 + CloudFront with no rewrite rules:
//   #/ask?q=...   #/search?service=...&level=ERROR,FATAL&since=24h&metadata.key=value   #/tail?...
//   #/sql?sql=...   #/saved   #/answers/<id> (a shared answer)
import { useEffect, useState } from 'preact/hooks';
import type { SearchFilters } from './types';

export type View = 'ask' | 'search' | 'tail' | 'sql' | 'saved' | 'answer';

export interface Route {
  view: View;
  params: URLSearchParams;
  id?: string;
}

const VIEWS: View[] = ['ask', 'search', 'tail', 'sql', 'saved'];

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = text.split('?', 2) as [string?, string?];
  const params = new URLSearchParams(query);
  const answer = /^answers\/([A-Za-z0-9_-]{1,64})$/.exec(path);
  if (answer) return { view: 'answer', params, id: answer[1] };
  const view = VIEWS.find((name) => name === path) ?? 'ask';
  return { view, params };
}

export function href(view: Exclude<View, 'answer'>, params?: URLSearchParams | Record<string, string>): string {
  const query = params instanceof URLSearchParams ? params : new URLSearchParams(params ?? {});
  const text = query.toString();
  return `#/${view}${text ? `?${text}` : ''}`;
}

export function answerHref(id: string): string {
  return `#/answers/${encodeURIComponent(id)}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

const TEXT_FILTERS = ['service', 'environment', 'since', 'until', 'contains', 'trace_id', 'user_id'] as const;

export function filtersFromParams(params: URLSearchParams): SearchFilters {
  const filters: SearchFilters = {};
  for (const key of TEXT_FILTERS) {
    const value = params.get(key)?.trim();
    if (value) filters[key] = value;
  }
  const level = params.get('level');
  if (level) filters.level = level.split(',').map((part) => part.trim()).filter(Boolean);
  for (const [key, value] of params) {
    if (key.startsWith('metadata.') && key.length > 'metadata.'.length) {
      filters.metadata = { ...filters.metadata, [key.slice('metadata.'.length)]: value };
    }
  }
  return filters;
}

export function paramsFromFilters(filters: SearchFilters): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of TEXT_FILTERS) {
    const value = filters[key];
    if (value) params.set(key, value);
  }
  if (filters.level?.length) params.set('level', filters.level.join(','));
  for (const [key, value] of Object.entries(filters.metadata ?? {})) params.set(`metadata.${key}`, value);
  return params;
}
