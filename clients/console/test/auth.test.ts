import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { authorizeUrl, base64url, codeChallenge, type CognitoConfig, fragmentToken, loadConfig, startSession } from '../src/auth';
import { fakeFetch } from './support/fake-fetch';

const COGNITO: CognitoConfig = {
  auth: 'cognito',
  domain: 'https://loglens.auth.eu-west-1.amazoncognito.com/',
  clientId: 'client-1',
  redirectUri: 'https://console.example/',
  apiUrl: 'https://api.example/prod/',
};

function place(url: string) {
  const parsed = new URL(url);
  const assigned: string[] = [];
  const replaced: string[] = [];
  const where = { pathname: parsed.pathname, search: parsed.search, hash: parsed.hash, assign: (to: string) => assigned.push(to) } as unknown as Location;
  const history = { replaceState: (_s: unknown, _t: string, to: string) => replaced.push(to) } as unknown as History;
  return { where, history, assigned, replaced };
}

afterEach(() => sessionStorage.clear());

describe('configuration', () => {
  it('reads cookie and cognito configurations and refuses anything else', async () => {
    for (const [body, expected] of [
      [{ auth: 'cookie' }, { auth: 'cookie', apiUrl: undefined }],
      [COGNITO, COGNITO],
    ] as const) {
      const { fetchFn } = fakeFetch({ 'GET /config.json': () => ({ body }) });
      expect(await loadConfig(fetchFn)).toEqual(expected);
    }
    const { fetchFn: partial } = fakeFetch({ 'GET /config.json': () => ({ body: { auth: 'cognito', domain: 'x' } }) });
    await expect(loadConfig(partial)).rejects.toThrow('needs clientId, redirectUri, apiUrl');
    const { fetchFn: apiKey } = fakeFetch({ 'GET /config.json': () => ({ body: { auth: 'apikey', key: 'k' } }) });
    await expect(loadConfig(apiKey)).rejects.toThrow('"cookie" or "cognito"');
  });
});

describe('local sign-in: a one-time token traded for an HttpOnly cookie', () => {
  it('only takes a plausible token from the fragment', () => {
    expect(fragmentToken('#token=abcdefghijklmnop1234')).toBe('abcdefghijklmnop1234');
    expect(fragmentToken('#token=short')).toBeNull();
    expect(fragmentToken('#token=<script>alert(1)</script>xxxxxxxx')).toBeNull();
    expect(fragmentToken('#/search?token=abcdefghijklmnop1234')).toBeNull();
  });

  it('removes the token from the address bar, posts it, and sends cookies from then on', async () => {
    const { where, history, replaced } = place('http://127.0.0.1:8000/#token=abcdefghijklmnop1234');
    const { fetchFn, calls } = fakeFetch({ 'POST /api/v1/session': () => ({ status: 204 }) });
    const session = await startSession({ auth: 'cookie' }, fetchFn, where, history);
    expect(replaced).toEqual(['/#/']);
    expect(calls.map((c) => [c.method, c.path, c.body])).toEqual([['POST', '/api/v1/session', { token: 'abcdefghijklmnop1234' }]]);
    expect(session.credentials).toBe('same-origin');
    expect(await session.headers()).toEqual({});
  });

  it('says so when the token is refused', async () => {
    const { where, history } = place('http://127.0.0.1:8000/#token=abcdefghijklmnop1234');
    const { fetchFn } = fakeFetch({ 'POST /api/v1/session': () => ({ status: 401, body: { error: 'expired' } }) });
    await expect(startSession({ auth: 'cookie' }, fetchFn, where, history)).rejects.toThrow('refused (HTTP 401)');
  });
});

describe('Cognito: authorization code with PKCE, tokens in memory only', () => {
  it('computes the S256 challenge as RFC 7636 says', async () => {
    const verifier = 'dBjftJeZ4CVP-mJ92IRsqD1Tp2j8JMwXH7ed4I1ZIPh0';
    const expected = createHash('sha256').update(verifier).digest('base64url');
    expect(await codeChallenge(verifier)).toBe(expected);
    expect(base64url(new Uint8Array([251, 255, 191]))).toBe('-_-_');
  });

  it('sends the browser to the hosted UI with a challenge, keeping only the verifier and state', async () => {
    const { where, history, assigned } = place('https://console.example/#/answers/AbCdEfGhIjKlMnOpQrStUv');
    void startSession(COGNITO, fakeFetch({}).fetchFn, where, history);
    await vi.waitFor(() => expect(assigned).toHaveLength(1));
    const url = new URL(assigned[0]!);
    expect(url.origin + url.pathname).toBe('https://loglens.auth.eu-west-1.amazoncognito.com/oauth2/authorize');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('response_type')).toBe('code');
    const pending = JSON.parse(sessionStorage.getItem('loglens.pkce')!);
    expect(await codeChallenge(pending.verifier)).toBe(url.searchParams.get('code_challenge'));
    expect(url.searchParams.get('state')).toBe(pending.state);
    expect(pending.route).toBe('#/answers/AbCdEfGhIjKlMnOpQrStUv');
    expect(Object.keys(localStorage)).toEqual([]);
  });

  it('trades the code for tokens, returns to the route, and sends the ID token as a bearer', async () => {
    sessionStorage.setItem('loglens.pkce', JSON.stringify({ verifier: 'v'.repeat(64), state: 'state-1', route: '#/saved' }));
    const { where, history, replaced } = place('https://console.example/?code=the-code&state=state-1');
    const { fetchFn, calls } = fakeFetch({
      'POST /oauth2/token': () => ({ body: { id_token: 'id-1', access_token: 'access-1', refresh_token: 'r-1', expires_in: 3600 } }),
    });
    const session = await startSession(COGNITO, fetchFn, where, history);
    expect(replaced).toEqual(['/#/saved']);
    const form = new URLSearchParams(calls[0]!.body as URLSearchParams);
    expect(Object.fromEntries(form)).toEqual({
      client_id: 'client-1',
      grant_type: 'authorization_code',
      code: 'the-code',
      redirect_uri: 'https://console.example/',
      code_verifier: 'v'.repeat(64),
    });
    expect(await session.headers()).toEqual({ authorization: 'Bearer id-1' });
    expect(session.apiUrl).toBe('https://api.example/prod');
    expect(session.credentials).toBe('omit');
    expect(sessionStorage.getItem('loglens.pkce')).toBeNull();
  });

  it('refuses an answer meant for another tab', async () => {
    sessionStorage.setItem('loglens.pkce', JSON.stringify({ verifier: 'v', state: 'mine', route: '' }));
    const { where, history } = place('https://console.example/?code=c&state=forged');
    await expect(startSession(COGNITO, fakeFetch({}).fetchFn, where, history)).rejects.toThrow('does not match');
  });

  it('refreshes a token about to expire, and signs in again when it cannot', async () => {
    sessionStorage.setItem('loglens.pkce', JSON.stringify({ verifier: 'v', state: 's', route: '' }));
    const { where, history, assigned } = place('https://console.example/?code=c&state=s');
    let issued = 0;
    const { fetchFn, calls } = fakeFetch({
      'POST /oauth2/token': () => ({
        body: { id_token: `id-${++issued}`, access_token: 'a', expires_in: 30, ...(issued === 1 ? { refresh_token: 'r-1' } : {}) },
      }),
    });
    const session = await startSession({ ...COGNITO, tokenUse: 'id' }, fetchFn, where, history);
    expect(await session.headers()).toEqual({ authorization: 'Bearer id-2' }); // 30 s left: refreshed first
    expect(String(calls[1]!.body)).toContain('grant_type=refresh_token');
    expect(String(calls[1]!.body)).toContain('refresh_token=r-1');
    void session.headers(); // expiring again, and the refresh token was kept: refreshed again
    await vi.waitFor(() => expect(calls).toHaveLength(3));
    expect(assigned).toEqual([]);
  });

  it('sends the access token when the authorizer wants it', async () => {
    sessionStorage.setItem('loglens.pkce', JSON.stringify({ verifier: 'v', state: 's', route: '' }));
    const { where, history } = place('https://console.example/?code=c&state=s');
    const { fetchFn } = fakeFetch({ 'POST /oauth2/token': () => ({ body: { id_token: 'i', access_token: 'acc', expires_in: 3600 } }) });
    const session = await startSession({ ...COGNITO, tokenUse: 'access' }, fetchFn, where, history);
    expect(await session.headers()).toEqual({ authorization: 'Bearer acc' });
  });

  it('builds the authorize URL with the configured scopes', async () => {
    const url = new URL(await authorizeUrl({ ...COGNITO, scopes: 'openid' }, 'v', 's'));
    expect(url.searchParams.get('scope')).toBe('openid');
    expect(url.searchParams.get('redirect_uri')).toBe('https://console.example/');
  });
});
