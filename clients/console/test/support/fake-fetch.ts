// A fetch that answers from a route table, so components run the real Api class against scripted answers.
import { Api } from '../../src/api';
import type { Session } from '../../src/auth';

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Record<string, string>;
}

export type Handler = (call: Call) => { status?: number; body?: unknown } | Promise<{ status?: number; body?: unknown }>;

export function fakeFetch(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetchFn = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input), 'http://console.test');
    const method = (init.method ?? 'GET').toUpperCase();
    const call: Call = {
      method,
      path: url.pathname,
      query: url.searchParams,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : init.body ?? null,
      headers: (init.headers ?? {}) as Record<string, string>,
    };
    calls.push(call);
    if (init.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const route = Object.entries(routes).find(([key]) => {
      const [m, pattern] = key.split(' ') as [string, string];
      return m === method && new RegExp(`^${pattern}$`).test(url.pathname);
    });
    if (!route) return new Response(JSON.stringify({ message: 'Missing Authentication Token' }), { status: 404 });
    const answer = await route[1](call);
    return new Response(answer.body === undefined ? '' : JSON.stringify(answer.body), {
      status: answer.status ?? 200,
      headers: { 'content-type': 'application/json' },
    });
  };
  return { fetchFn: fetchFn as typeof fetch, calls };
}

export const cookieSession: Session = {
  apiUrl: '',
  credentials: 'same-origin',
  headers: async () => ({}),
  signIn: () => undefined,
};

export function fakeApi(routes: Record<string, Handler>) {
  const { fetchFn, calls } = fakeFetch(routes);
  return { api: new Api(cookieSession, fetchFn), calls };
}
