// Signing in without ever keeping an API key in the browser.
//
// /config.json says how:
//   {"auth": "cookie"}  locally: `loglens dev` prints a console URL with a one-time token in the fragment
//                       (/#token=...); the console trades it at POST /api/v1/session for an HttpOnly,
//                       SameSite=Strict cookie and removes the fragment. Script never sees the cookie.
//   {"auth": "cognito", "domain", "clientId", "redirectUri", "apiUrl"}  in AWS: the Cognito hosted UI with
//                       the authorization code flow and PKCE. Tokens live in this module's memory only
//                       (never localStorage) and go to the API as `Authorization: Bearer`.

export interface CookieConfig {
  auth: 'cookie';
  apiUrl?: string;
}

export interface CognitoConfig {
  auth: 'cognito';
  domain: string; // https://<prefix>.auth.<region>.amazoncognito.com (or a custom domain)
  clientId: string;
  redirectUri: string;
  apiUrl: string;
  scopes?: string; // default "openid email"
  tokenUse?: 'id' | 'access'; // which token the API's authorizer expects; "id" for a user-pool authorizer without scopes
}

export type AuthConfig = CookieConfig | CognitoConfig;

export interface Session {
  apiUrl: string;
  credentials: RequestCredentials;
  headers(): Promise<Record<string, string>>;
  signIn(): void; // start over (e.g. after a 401)
}

type Fetch = typeof fetch;

export async function loadConfig(fetchFn: Fetch = fetch): Promise<AuthConfig> {
  const response = await fetchFn('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`could not read /config.json (HTTP ${response.status})`);
  const config = (await response.json()) as Partial<AuthConfig>;
  if (config.auth === 'cookie') return { auth: 'cookie', apiUrl: config.apiUrl };
  if (config.auth === 'cognito') {
    const missing = (['domain', 'clientId', 'redirectUri', 'apiUrl'] as const).filter((key) => !(config as Partial<CognitoConfig>)[key]);
    if (missing.length) throw new Error(`/config.json: cognito sign-in needs ${missing.join(', ')}`);
    return config as CognitoConfig;
  }
  throw new Error('/config.json: "auth" must be "cookie" or "cognito"');
}

export async function startSession(config: AuthConfig, fetchFn: Fetch = fetch, where: Location = window.location, history: History = window.history): Promise<Session> {
  return config.auth === 'cookie' ? cookieSession(config, fetchFn, where, history) : cognitoSession(config, fetchFn, where, history);
}

/** The one-time token in `#token=...`, if the URL carries one. */
export function fragmentToken(hash: string): string | null {
  const match = /^#token=([A-Za-z0-9_\-.~]{16,512})$/.exec(hash);
  return match ? match[1]! : null;
}

async function cookieSession(config: CookieConfig, fetchFn: Fetch, where: Location, history: History): Promise<Session> {
  const apiUrl = trimSlash(config.apiUrl ?? '');
  const token = fragmentToken(where.hash);
  if (token) {
    // Off the address bar (and out of history) before anything else happens.
    history.replaceState(null, '', `${where.pathname}${where.search}#/`);
    const response = await fetchFn(`${apiUrl}/api/v1/session`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    if (!response.ok) throw new Error(`the sign-in link was refused (HTTP ${response.status}); ask \`loglens dev\` for a new one`);
  }
  return {
    apiUrl,
    credentials: 'same-origin',
    headers: async () => ({}),
    signIn: () => undefined, // locally a new link comes from the terminal
  };
}

// --- Cognito: authorization code + PKCE ---

interface Tokens {
  id: string;
  access: string;
  refresh?: string;
  expiresAt: number; // ms since epoch
}

const PENDING = 'loglens.pkce'; // the verifier, state and route across the hosted UI's redirect; no tokens

export function base64url(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function randomString(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export async function authorizeUrl(config: CognitoConfig, verifier: string, state: string): Promise<string> {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: config.scopes ?? 'openid email',
    state,
    code_challenge: await codeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  return `${trimSlash(config.domain)}/oauth2/authorize?${params}`;
}

async function cognitoSession(config: CognitoConfig, fetchFn: Fetch, where: Location, history: History): Promise<Session> {
  let tokens: Tokens | null = null;
  const redirect = async (): Promise<never> => {
    const verifier = randomString(48);
    const state = randomString(16);
    sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, route: where.hash }));
    where.assign(await authorizeUrl(config, verifier, state));
    return new Promise<never>(() => undefined); // the page is leaving
  };
  const params = new URLSearchParams(where.search);
  const code = params.get('code');
  if (code) {
    const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as { verifier: string; state: string; route: string } | null;
    sessionStorage.removeItem(PENDING);
    history.replaceState(null, '', `${where.pathname}${pending?.route || '#/'}`);
    if (!pending || pending.state !== params.get('state')) throw new Error('the sign-in answer does not match this browser tab; reload to sign in again');
    tokens = await tokenRequest(config, fetchFn, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: config.redirectUri,
      code_verifier: pending.verifier,
    });
  } else {
    await redirect();
  }
  return {
    apiUrl: trimSlash(config.apiUrl),
    credentials: 'omit',
    headers: async () => {
      if (tokens && tokens.expiresAt - Date.now() < 60_000) {
        tokens = tokens.refresh
          ? await tokenRequest(config, fetchFn, { grant_type: 'refresh_token', refresh_token: tokens.refresh }, tokens.refresh)
          : null;
      }
      if (!tokens) return redirect();
      return { authorization: `Bearer ${config.tokenUse === 'access' ? tokens.access : tokens.id}` };
    },
    signIn: () => void redirect(),
  };
}

async function tokenRequest(config: CognitoConfig, fetchFn: Fetch, grant: Record<string, string>, keepRefresh?: string): Promise<Tokens> {
  const response = await fetchFn(`${trimSlash(config.domain)}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: config.clientId, ...grant }),
  });
  if (!response.ok) throw new Error(`sign-in failed at the token endpoint (HTTP ${response.status})`);
  const body = (await response.json()) as { id_token: string; access_token: string; refresh_token?: string; expires_in: number };
  return {
    id: body.id_token,
    access: body.access_token,
    refresh: body.refresh_token ?? keepRefresh,
    expiresAt: Date.now() + body.expires_in * 1000,
  };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
