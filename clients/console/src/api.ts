// The console's only way to the server: JSON over fetch, signed in by the session (cookie or bearer token).
import type { Session } from './auth';
import type {
  Answer,
  AskPending,
  ErrorBody,
  Facts,
  SavedItem,
  SavedKind,
  SearchFilters,
  SearchResult,
  SharedAnswer,
  SqlCheck,
  SqlResult,
  TailResult,
} from './types';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
    readonly field?: string | null,
  ) {
    super(message);
  }
}

export interface SearchRequest {
  filters: SearchFilters;
  limit?: number;
  cursor?: string | null;
  histogram?: boolean;
}

export interface TailParams {
  cursor?: string | null;
  service?: string;
  level?: string[];
  contains?: string;
  limit?: number;
}

type Fetch = typeof fetch;

export class Api {
  constructor(
    private readonly session: Session,
    private readonly fetchFn: Fetch = (...args) => fetch(...args),
  ) {}

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; data: T }> {
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.session.headers()) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await this.fetchFn(`${this.session.apiUrl}${path}`, {
        method,
        headers,
        credentials: this.session.credentials,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError('the server cannot be reached; check that loglens is running', 0, 'network');
    }
    const text = await response.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const problem = (data ?? {}) as Partial<ErrorBody> & { message?: string };
      const message = problem.error ?? problem.message ?? (text.slice(0, 200) || `HTTP ${response.status}`);
      throw new ApiError(message, response.status, problem.code ?? undefined, problem.field ?? null);
    }
    return { status: response.status, data: data as T };
  }

  /** 200 with the answer, or 202 {"id", "status": "running"} to be polled with askStatus. */
  async ask(question: string, conversationId?: string | null): Promise<Answer | AskPending> {
    const body = conversationId ? { question, conversation_id: conversationId } : { question };
    return (await this.request<Answer | AskPending>('POST', '/api/v1/ask', body)).data;
  }

  async askStatus(id: string): Promise<Answer | AskPending> {
    return (await this.request<Answer | AskPending>('GET', `/api/v1/ask/${encodeURIComponent(id)}`)).data;
  }

  async search(request: SearchRequest): Promise<SearchResult> {
    return (await this.request<SearchResult>('POST', '/api/v1/query', request)).data;
  }

  async tail(params: TailParams, signal?: AbortSignal): Promise<TailResult> {
    const query = new URLSearchParams();
    if (params.cursor) query.set('cursor', params.cursor);
    if (params.service) query.set('service', params.service);
    if (params.level?.length) query.set('level', params.level.join(','));
    if (params.contains) query.set('contains', params.contains);
    if (params.limit) query.set('limit', String(params.limit));
    return (await this.request<TailResult>('GET', `/api/v1/tail?${query}`, undefined, signal)).data;
  }

  async sql(sql: string): Promise<SqlResult> {
    return (await this.request<SqlResult>('POST', '/api/v1/query', { sql })).data;
  }

  async check(sql: string, signal?: AbortSignal): Promise<SqlCheck> {
    return (await this.request<SqlCheck>('POST', '/api/v1/query/check', { sql }, signal)).data;
  }

  async facts(): Promise<Facts> {
    return (await this.request<Facts>('GET', '/api/v1/facts')).data;
  }

  async saved(): Promise<SavedItem[]> {
    return (await this.request<{ items: SavedItem[] }>('GET', '/api/v1/saved')).data.items;
  }

  async save(kind: SavedKind, name: string, body: SavedItem['body']): Promise<SavedItem> {
    return (await this.request<SavedItem>('POST', '/api/v1/saved', { kind, name, body })).data;
  }

  async deleteSaved(id: string): Promise<void> {
    await this.request<unknown>('DELETE', `/api/v1/saved/${encodeURIComponent(id)}`);
  }

  async share(answer: Answer): Promise<SharedAnswer> {
    return (await this.request<SharedAnswer>('POST', '/api/v1/answers', { answer })).data;
  }

  async sharedAnswer(id: string): Promise<SharedAnswer> {
    return (await this.request<SharedAnswer>('GET', `/api/v1/answers/${encodeURIComponent(id)}`)).data;
  }
}

export function isPending(value: Answer | AskPending): value is AskPending {
  return (value as AskPending).status === 'running' && typeof (value as AskPending).id === 'string';
}
