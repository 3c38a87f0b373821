import { parseRetryAfter } from './backoff.js';
import type { FetchLike } from './types.js';

/** Bodies below this are sent plain: gzip costs more than it saves on a couple of records. */
const COMPRESS_MIN_BYTES = 1024;

export interface RejectedRecord {
  index: number;
  errors: unknown;
}

export type SendResult =
  | { kind: 'accepted'; rejected: RejectedRecord[]; gzipped: boolean }
  /** `status` is absent when no answer came back (network error, CORS refusal, timeout). */
  | { kind: 'retry'; reason: string; retryAfterMs?: number; status?: number; timedOut?: boolean; gzipped: boolean }
  | { kind: 'too-large' }
  | { kind: 'gzip-refused' }
  | { kind: 'refused'; status: number; detail: string };

export interface SendOptions {
  url: string;
  apiKey: string | undefined;
  compress: boolean;
  timeoutMs: number;
  keepalive: boolean;
  fetch: FetchLike;
}

export async function sendBatch(body: string, options: SendOptions): Promise<SendResult> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  let payload: BodyInit = body;
  let gzipped = false;
  // A keepalive request must be started synchronously while the page is being hidden, so it is never compressed.
  if (options.compress && !options.keepalive && body.length >= COMPRESS_MIN_BYTES && canGzip()) {
    try {
      payload = await gzip(body);
      headers['Content-Encoding'] = 'gzip';
      gzipped = true;
    } catch {
      payload = body;
    }
  }
  const controller = typeof AbortController === 'function' ? new AbortController() : undefined;
  const timer = controller ? setTimeout(() => controller.abort(), options.timeoutMs) : undefined;
  try {
    const init: RequestInit = { method: 'POST', headers, body: payload };
    if (options.keepalive) init.keepalive = true;
    if (controller) init.signal = controller.signal;
    const response = await options.fetch(options.url, init);
    const text = await response.text();
    return classify(response.status, response.headers.get('retry-after'), text, gzipped);
  } catch (err) {
    const timedOut = controller?.signal.aborted === true;
    return { kind: 'retry', reason: describeFailure(err, timedOut, options.timeoutMs), timedOut, gzipped };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export function classify(status: number, retryAfter: string | null, text: string, gzipped: boolean): SendResult {
  if (status >= 200 && status < 300) return { kind: 'accepted', rejected: readRejected(text), gzipped };
  if (status === 413) return { kind: 'too-large' };
  if (status === 415 && gzipped) return { kind: 'gzip-refused' };
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter);
    const reason = `HTTP ${status}`;
    return retryAfterMs === undefined
      ? { kind: 'retry', reason, status, gzipped }
      : { kind: 'retry', reason, retryAfterMs, status, gzipped };
  }
  return { kind: 'refused', status, detail: text.slice(0, 500) };
}

function readRejected(text: string): RejectedRecord[] {
  try {
    const answer = JSON.parse(text) as { rejected?: unknown };
    if (!Array.isArray(answer.rejected)) return [];
    return answer.rejected.map((item: unknown) => {
      const entry = (item ?? {}) as { index?: unknown; errors?: unknown; reason?: unknown };
      return { index: typeof entry.index === 'number' ? entry.index : -1, errors: entry.errors ?? entry.reason };
    });
  } catch {
    // A 2xx with an unreadable body still means the batch was taken.
    return [];
  }
}

function describeFailure(err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `no answer within ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof cause === 'string' ? `${message} (${cause})` : message;
}

function canGzip(): boolean {
  return typeof CompressionStream === 'function' && typeof Blob === 'function' && typeof Response === 'function';
}

async function gzip(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
