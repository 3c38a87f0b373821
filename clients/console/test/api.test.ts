import { describe, expect, it } from 'vitest';
import { Api, ApiError } from '../src/api';
import { cookieSession, fakeApi, fakeFetch } from './support/fake-fetch';

describe('the API client', () => {
  it('turns error bodies into ApiError with the status, code and field', async () => {
    const { api } = fakeApi({
      'POST /api/v1/query': () => ({ status: 400, body: { error: 'filters.level: LOUD is not a level', code: 'invalid_request', field: 'filters.level' } }),
      'GET /api/v1/saved': () => ({ status: 403, body: { message: 'Forbidden' } }),
      'GET /api/v1/answers/.*': () => ({ status: 502, body: undefined }),
    });
    const failure = await api.search({ filters: { level: ['LOUD'] } }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({ status: 400, code: 'invalid_request', field: 'filters.level', message: 'filters.level: LOUD is not a level' });
    await expect(api.saved()).rejects.toMatchObject({ status: 403, message: 'Forbidden' });
    await expect(api.sharedAnswer('x')).rejects.toMatchObject({ status: 502, message: 'HTTP 502' });
  });

  it('says when the server cannot be reached', async () => {
    const api = new Api(cookieSession, async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(api.saved()).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('puts tail filters in the query string and the session headers on every request', async () => {
    const { fetchFn, calls } = fakeFetch({ 'GET /api/v1/tail': () => ({ body: { columns: [], rows: [], sql: '', elapsed_ms: 1, cursor: 'c2', limit_reached: false } }) });
    const api = new Api({ ...cookieSession, apiUrl: 'https://api.example', headers: async () => ({ authorization: 'Bearer t' }) }, fetchFn);
    await api.tail({ cursor: 'c1', service: 'api', level: ['ERROR', 'FATAL'], contains: '50% & more' });
    expect(Object.fromEntries(calls[0]!.query)).toEqual({ cursor: 'c1', service: 'api', level: 'ERROR,FATAL', contains: '50% & more' });
    expect(calls[0]!.headers).toMatchObject({ authorization: 'Bearer t', accept: 'application/json' });
  });

  it('escapes ids in paths', async () => {
    const { api, calls } = fakeApi({ 'DELETE /api/v1/saved/.*': () => ({ status: 204 }) });
    await api.deleteSaved('../../x?y');
    expect(calls[0]!.path).toBe('/api/v1/saved/..%2F..%2Fx%3Fy');
  });
});
