/** Levels the ingest API stores; common spellings (warning, critical, …) are normalised by the client. */
export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

/** Optional record fields of the loglens schema; unknown keys are sent as-is and kept by the server in metadata. */
export interface LogFields {
  user_id?: string;
  session_id?: string;
  trace_id?: string;
  span_id?: string;
  error_type?: string;
  application_error_code?: string;
  http_status_code?: number;
  stack_trace?: string;
  module?: string;
  component?: string;
  endpoint?: string;
  method?: string;
  duration_ms?: number;
  page_path?: string;
  page_url?: string;
  browser_name?: string;
  device_type?: string;
  screen_width?: number;
  screen_height?: number;
  action_type?: string;
  action_target?: string;
  metadata?: Record<string, unknown>;
  /** Event time; defaults to now. */
  timestamp?: string | Date;
  /** Idempotency key; generated per record when absent. */
  event_id?: string;
  /** An Error (or anything thrown): fills error_type and stack_trace when those are not given. */
  error?: unknown;
  [field: string]: unknown;
}

/** The JSON object sent for one log call. */
export interface LogRecord extends Omit<LogFields, 'error' | 'timestamp'> {
  timestamp: string;
  level: string;
  log_type: string;
  service: string;
  environment: string;
  message: string;
  event_id: string;
}

/** The subset of `fetch` the client uses; inject one for tests or custom transports. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface LogHelperConfig {
  /** Base URL of the loglens server, e.g. `https://logs.example.com`; records go to `{url}/api/v1/logs/batch`. */
  logServerUrl: string;
  service: string;
  /** Default `development`. */
  environment?: string;
  /** Sent as the `x-api-key` header, never in a URL. */
  apiKey?: string;
  /** Records per request, and the queue length that triggers a flush. Default 10. */
  batchSize?: number;
  /** Periodic flush. Default 5000 ms. */
  flushIntervalMs?: number;
  /** Records held in memory; when full the oldest are dropped and counted. Default 1000. */
  maxQueue?: number;
  /** Bytes held in memory (serialised records). Default 4 MiB. */
  maxQueueBytes?: number;
  /** Request body cap before splitting (the server accepts 5 MiB). Default 1 MiB. */
  maxBatchBytes?: number;
  /** Browsers: report window `error` and `unhandledrejection` events. Default true. */
  captureErrors?: boolean;
  /** Browsers: localStorage key of undelivered batches. Default `loglens:pending`; use one key per instance. */
  storageKey?: string;
  /** Undelivered batches kept (localStorage in browsers, memory in Node). Default 50. */
  maxStoredBatches?: number;
  /** Characters of undelivered batches kept. Default 1 MiB. */
  maxStoredBytes?: number;
  /** Retries per batch per flush on network errors, 408, 429 and 5xx. Default 5. */
  maxRetries?: number;
  /** Backoff base: the n-th retry waits a random time in [0, min(retryMaxMs, retryBaseMs * 2^n)). Default 500. */
  retryBaseMs?: number;
  /** Backoff cap; a Retry-After longer than this postpones the batch to a later flush instead. Default 30000. */
  retryMaxMs?: number;
  /** Abort a request (including a hanging one) after this long. Default 10000. */
  requestTimeoutMs?: number;
  /** Gzip request bodies of 1 KiB or more where CompressionStream exists. Default true. */
  compress?: boolean;
  /** Replaces the global fetch. */
  fetch?: FetchLike;
}

export interface ClientStats {
  /** Records waiting in memory. */
  queued: number;
  /** Batches that failed delivery and wait for a later flush (or the next page load). */
  pendingBatches: number;
  /** Records the server accepted. */
  sent: number;
  /** Records dropped by the client (full queue or full storage), all time. */
  dropped: number;
  /** Records the server refused (validation, auth); never retried. */
  rejected: number;
  /** Retry attempts made. */
  retries: number;
}

export interface DestroyOptions {
  /** Stop retrying after this long; what is left stays stored (browsers) or is reported as undelivered. Default 10000. */
  timeoutMs?: number;
}
