import { backoffDelay, sleep } from './backoff.js';
import { detectBrowser, detectDevice, type BrowserName, type DeviceType } from './detect.js';
import { detectBrowserEnv, isWorker, nodeProcess, type BrowserEnv } from './environment.js';
import {
  describeThrown,
  isPlainObject,
  normaliseLevel,
  safeStringify,
  truncate,
  utf8Length,
  uuid,
  type ErrorInfo,
} from './serialize.js';
import { BatchStore, type StoredBatch } from './storage.js';
import { sendBatch, type RejectedRecord, type SendResult } from './transport.js';
import type { ClientStats, DestroyOptions, FetchLike, LogFields, LogHelperConfig, LogLevel } from './types.js';

const BATCH_PATH = '/api/v1/logs/batch';
const EMPTY_BODY_BYTES = '{"logs":[]}'.length;
// Browsers allow about 64 KiB of keepalive and beacon bodies in flight per page.
const KEEPALIVE_BUDGET_BYTES = 60 * 1024;
// The server's per-request record limit.
const SERVER_MAX_RECORDS = 10_000;
const MAX_RECORD_BYTES = 256 * 1024;
const TRUNCATED_FIELD_CHARS = 16 * 1024;
const WARNINGS_PER_KIND = 3;
const DEFAULT_DESTROY_TIMEOUT_MS = 10_000;

interface Options {
  batchSize: number;
  flushIntervalMs: number;
  maxQueue: number;
  maxQueueBytes: number;
  maxBatchBytes: number;
  captureErrors: boolean;
  storageKey: string;
  maxStoredBatches: number;
  maxStoredBytes: number;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  requestTimeoutMs: number;
}

interface QueuedRecord {
  json: string;
  bytes: number;
}

interface Batch {
  id: string;
  /** Serialised records; retries resend exactly these, so event_ids never change. */
  records: string[];
  /** Size of the request body in bytes. */
  bytes: number;
  /** Drops reported in this batch's first record, counted again if that record never reaches the server. */
  carriedDrops: number;
}

/**
 * Ships log records to the loglens ingest API from browsers and Node.js. Logging only enqueues; batching,
 * retries and the offline fallback happen in the background, and nothing here throws into the application.
 */
export class LogHelper {
  readonly logServerUrl: string;
  readonly service: string;
  readonly environment: string;
  readonly batchSize: number;
  readonly flushIntervalMs: number;

  private readonly endpoint: string;
  private readonly apiKey: string | undefined;
  private readonly options: Options;
  private readonly fetchImpl: FetchLike;
  private readonly env: BrowserEnv | undefined;
  private readonly store: BatchStore | undefined;
  private readonly logType: 'FRONTEND' | 'BACKEND';
  private readonly browserName: BrowserName | undefined;
  private readonly deviceType: DeviceType | undefined;
  private compress: boolean;

  private queue: QueuedRecord[] = [];
  private queueBytes = 0;
  private pending: Batch[] = [];
  private readonly storedIds = new Set<string>();
  private inFlight: Batch | undefined;
  private unreportedDrops = 0;
  private readonly counters = { sent: 0, dropped: 0, rejected: 0, retries: 0 };
  private chain: Promise<void> = Promise.resolve();
  private running = 0;
  /** Set by a Retry-After longer than we wait in place; every send honours it. */
  private retryAfterUntil = 0;
  /** Set after a batch exhausted its retries, so the timer does not hammer a server that is down. */
  private pausedUntil = 0;
  private consecutiveFailures = 0;
  private deadline = Number.POSITIVE_INFINITY;
  private destroyed = false;
  private destroying: Promise<void> | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly detach: Array<() => void> = [];
  private readonly warnings = new Map<string, number>();

  constructor(config: LogHelperConfig) {
    if (!config || typeof config.logServerUrl !== 'string' || config.logServerUrl.trim() === '') {
      throw new TypeError('LogHelper: config.logServerUrl is required');
    }
    if (typeof config.service !== 'string' || config.service.trim() === '') {
      throw new TypeError('LogHelper: config.service is required');
    }
    this.logServerUrl = config.logServerUrl.trim().replace(/\/+$/, '');
    this.endpoint = this.logServerUrl + BATCH_PATH;
    this.service = config.service;
    this.environment = config.environment ?? 'development';
    this.apiKey = config.apiKey || undefined;
    this.options = {
      batchSize: Math.min(positive('batchSize', config.batchSize, 10), SERVER_MAX_RECORDS),
      flushIntervalMs: positive('flushIntervalMs', config.flushIntervalMs, 5000),
      maxQueue: positive('maxQueue', config.maxQueue, 1000),
      maxQueueBytes: positive('maxQueueBytes', config.maxQueueBytes, 4 * 1024 * 1024),
      maxBatchBytes: positive('maxBatchBytes', config.maxBatchBytes, 1024 * 1024),
      captureErrors: config.captureErrors ?? true,
      storageKey: config.storageKey ?? 'loglens:pending',
      maxStoredBatches: positive('maxStoredBatches', config.maxStoredBatches, 50),
      maxStoredBytes: positive('maxStoredBytes', config.maxStoredBytes, 1024 * 1024),
      maxRetries: nonNegative('maxRetries', config.maxRetries, 5),
      retryBaseMs: positive('retryBaseMs', config.retryBaseMs, 500),
      retryMaxMs: positive('retryMaxMs', config.retryMaxMs, 30_000),
      requestTimeoutMs: positive('requestTimeoutMs', config.requestTimeoutMs, 10_000),
    };
    this.batchSize = this.options.batchSize;
    this.flushIntervalMs = this.options.flushIntervalMs;
    this.compress = config.compress ?? true;
    // Called through globalThis so browsers see fetch invoked on window, not on this object.
    this.fetchImpl = config.fetch ?? ((url, init) => globalThis.fetch(url, init));

    this.env = detectBrowserEnv();
    this.logType = this.env || isWorker() ? 'FRONTEND' : 'BACKEND';
    if (this.env) {
      const userAgent = this.env.navigator?.userAgent;
      this.browserName = detectBrowser(userAgent);
      this.deviceType = detectDevice(userAgent, this.env.window.screen?.width, this.env.navigator?.maxTouchPoints);
      if (this.env.storage) {
        this.store = new BatchStore(
          this.env.storage,
          this.options.storageKey,
          this.options.maxStoredBatches,
          this.options.maxStoredBytes,
        );
        for (const stored of this.store.load()) {
          this.pending.push(makeBatch(stored.records, 0, stored.id));
          this.storedIds.add(stored.id);
        }
      }
      this.listenToPage(this.env);
    } else {
      this.listenToProcess();
    }

    this.timer = setInterval(() => this.tick(), this.options.flushIntervalMs);
    // In Node the timer must not keep a finished process alive; beforeExit flushes instead.
    (this.timer as { unref?: () => void }).unref?.();
    // Batches a previous page left in localStorage are replayed now.
    if (this.pending.length > 0) void this.flush();
  }

  /** Queues one record; returns at once and never throws. `fields` may be an Error. */
  log(level: LogLevel | (string & {}), message: string | Error, fields?: LogFields | Error): void {
    try {
      if (this.destroyed) {
        this.report('destroyed', 'loglens: log() after destroy() is ignored');
        return;
      }
      const queued = this.serialise(this.buildRecord(level, message, fields));
      if (!queued) {
        this.countDrops(1);
        this.report('too-big', `loglens: dropped a record larger than ${MAX_RECORD_BYTES} bytes even after truncation`);
        return;
      }
      this.enqueue(queued);
      if (this.queue.length >= this.options.batchSize && this.running === 0 && Date.now() >= this.pausedUntil) {
        void this.flush();
      }
    } catch (err) {
      this.report('internal', `loglens: could not queue a record: ${String(err)}`);
    }
  }

  trace(message: string | Error, fields?: LogFields | Error): void {
    this.log('TRACE', message, fields);
  }

  debug(message: string | Error, fields?: LogFields | Error): void {
    this.log('DEBUG', message, fields);
  }

  info(message: string | Error, fields?: LogFields | Error): void {
    this.log('INFO', message, fields);
  }

  warn(message: string | Error, fields?: LogFields | Error): void {
    this.log('WARN', message, fields);
  }

  error(message: string | Error, fields?: LogFields | Error): void {
    this.log('ERROR', message, fields);
  }

  fatal(message: string | Error, fields?: LogFields | Error): void {
    this.log('FATAL', message, fields);
  }

  /**
   * Sends what is queued (and what earlier flushes could not deliver). Resolves, never rejects, once this pass
   * is over; records that could not be delivered stay pending for a later flush.
   */
  flush(): Promise<void> {
    this.running++;
    const run = this.chain
      .then(() => this.flushPass())
      .catch((err: unknown) => this.report('internal', `loglens: flush failed: ${String(err)}`))
      .finally(() => {
        this.running--;
      });
    this.chain = run;
    return run;
  }

  /**
   * Stops the timer and the page listeners and flushes within a time budget. In browsers what is still
   * undelivered stays in localStorage for the next page load; in Node it is counted and reported.
   */
  destroy(options: DestroyOptions = {}): Promise<void> {
    if (this.destroying) return this.destroying;
    this.destroyed = true;
    clearInterval(this.timer);
    for (const undo of this.detach.splice(0)) {
      try {
        undo();
      } catch {
        // a listener that cannot be removed is harmless once we are destroyed
      }
    }
    const requested = options?.timeoutMs;
    const budget =
      typeof requested === 'number' && Number.isFinite(requested) && requested >= 0 ? requested : DEFAULT_DESTROY_TIMEOUT_MS;
    this.deadline = Date.now() + budget;
    this.pausedUntil = 0;
    this.destroying = this.finish(budget).catch(() => undefined);
    return this.destroying;
  }

  stats(): ClientStats {
    return {
      queued: this.queue.length,
      pendingBatches: this.pending.length,
      sent: this.counters.sent,
      dropped: this.counters.dropped,
      rejected: this.counters.rejected,
      retries: this.counters.retries,
    };
  }

  /** Browser name of the current page, or of the given user agent. */
  detectBrowser(userAgent?: string): BrowserName {
    return detectBrowser(userAgent ?? this.env?.navigator?.userAgent);
  }

  /** Device class of the current page, or of the given user agent. */
  detectDevice(userAgent?: string): DeviceType {
    if (userAgent !== undefined) return detectDevice(userAgent);
    return detectDevice(this.env?.navigator?.userAgent, this.env?.window.screen?.width, this.env?.navigator?.maxTouchPoints);
  }

  private async finish(budget: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outOfTime = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, budget);
    });
    await Promise.race([this.flush(), outOfTime]);
    clearTimeout(timer);
    if (this.store) {
      this.persistQueue();
      return;
    }
    const inFlight = this.inFlight?.records.length ?? 0;
    const left = inFlight + this.queue.length + this.pending.reduce((sum, batch) => sum + batch.records.length, 0);
    if (left > 0) this.report('undelivered', `loglens: ${left} records were not delivered before destroy()`);
  }

  private buildRecord(level: string, message: unknown, fields: LogFields | Error | undefined): Record<string, unknown> {
    const extraMetadata: Record<string, unknown> = {};
    let normalised: string | undefined = normaliseLevel(level);
    if (!normalised) {
      normalised = 'INFO';
      extraMetadata['loglens_level'] = String(level);
    }
    let thrown: ErrorInfo | undefined;
    let text: string;
    if (typeof message === 'string') text = message;
    else if (message instanceof Error) {
      thrown = describeThrown(message);
      text = thrown.message;
    } else if (message !== null && typeof message === 'object') text = safeStringify(message);
    else text = String(message);

    const given: Record<string, unknown> =
      fields instanceof Error ? { error: fields } : isPlainObject(fields) ? fields : {};
    if (fields !== undefined && !isPlainObject(fields) && !(fields instanceof Error)) extraMetadata['value'] = fields;

    const record: Record<string, unknown> = {
      timestamp: new Date().toISOString(),
      level: normalised,
      log_type: this.logType,
      service: this.service,
      environment: this.environment,
      message: text,
      event_id: uuid(),
      ...this.pageContext(),
    };
    for (const key of Object.keys(given)) {
      const value = given[key];
      if (value === undefined || key === 'level' || key === 'message' || key === 'error') continue;
      record[key] = value;
    }
    if (record['timestamp'] instanceof Date) {
      const at = record['timestamp'] as Date;
      record['timestamp'] = Number.isNaN(at.getTime()) ? new Date().toISOString() : at.toISOString();
    }
    if (typeof record['event_id'] !== 'string' || record['event_id'] === '') record['event_id'] = uuid();
    if (given['error'] !== undefined && given['error'] !== null) thrown = describeThrown(given['error']);
    if (thrown) {
      if (record['error_type'] === undefined && thrown.errorType) record['error_type'] = thrown.errorType;
      if (record['stack_trace'] === undefined && thrown.stack) record['stack_trace'] = thrown.stack;
    }
    const metadata = record['metadata'];
    if (metadata !== undefined && !isPlainObject(metadata)) record['metadata'] = { value: metadata };
    if (Object.keys(extraMetadata).length > 0) {
      record['metadata'] = { ...(record['metadata'] as Record<string, unknown> | undefined), ...extraMetadata };
    }
    return record;
  }

  private pageContext(): Record<string, unknown> {
    if (!this.env) return {};
    const { location, screen } = this.env.window;
    return {
      page_path: location?.pathname,
      page_url: location?.href,
      browser_name: this.browserName,
      device_type: this.deviceType,
      screen_width: screen?.width,
      screen_height: screen?.height,
    };
  }

  private serialise(record: Record<string, unknown>): QueuedRecord | undefined {
    const limit = Math.min(MAX_RECORD_BYTES, this.options.maxBatchBytes - EMPTY_BODY_BYTES);
    const json = safeStringify(record);
    const bytes = utf8Length(json);
    if (bytes <= limit) return { json, bytes };
    // Keep the record's identity and the start of every long text; the rest would be refused anyway.
    const slim: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(JSON.parse(json) as Record<string, unknown>)) {
      slim[key] = typeof value === 'string' ? truncate(value, TRUNCATED_FIELD_CHARS) : value;
    }
    slim['metadata'] = { loglens_truncated: true, loglens_original_bytes: bytes };
    const slimJson = safeStringify(slim);
    const slimBytes = utf8Length(slimJson);
    return slimBytes <= limit ? { json: slimJson, bytes: slimBytes } : undefined;
  }

  private enqueue(item: QueuedRecord): void {
    this.queue.push(item);
    this.queueBytes += item.bytes;
    while (this.queue.length > this.options.maxQueue || this.queueBytes > this.options.maxQueueBytes) {
      const oldest = this.queue.shift()!;
      this.queueBytes -= oldest.bytes;
      this.countDrops(1);
    }
  }

  private countDrops(records: number): void {
    this.unreportedDrops += records;
    this.counters.dropped += records;
  }

  private takeBatch(maxRecords: number, maxBytes: number): Batch {
    const records: string[] = [];
    let bytes = EMPTY_BODY_BYTES;
    while (this.queue.length > 0 && records.length < maxRecords) {
      const next = this.queue[0]!;
      const added = next.bytes + (records.length > 0 ? 1 : 0);
      if (records.length > 0 && bytes + added > maxBytes) break;
      records.push(next.json);
      bytes += added;
      this.queue.shift();
      this.queueBytes -= next.bytes;
    }
    const carried = this.unreportedDrops;
    if (carried > 0 && records.length > 0) {
      records[0] = withDropCount(records[0]!, carried);
      this.unreportedDrops = 0;
      return makeBatch(records, carried);
    }
    return { id: uuid(), records, bytes, carriedDrops: 0 };
  }

  private tick(): void {
    if (this.running > 0) return;
    const now = Date.now();
    if (now < this.retryAfterUntil || now < this.pausedUntil) return;
    if (this.queue.length > 0 || this.pending.length > 0) void this.flush();
  }

  private mayStartAttempt(): boolean {
    const now = Date.now();
    return now >= this.retryAfterUntil && now < this.deadline;
  }

  private async flushPass(): Promise<void> {
    while (this.pending.length > 0) {
      if (!this.mayStartAttempt()) return;
      const batch = this.pending[0]!;
      const left = await this.deliver(batch);
      if (left.length === 0) {
        this.removePending(batch);
        continue;
      }
      if (left.length !== 1 || left[0] !== batch) {
        this.removePending(batch);
        for (const rest of [...left].reverse()) this.addPending(rest, true);
      }
      return;
    }
    while (this.queue.length > 0) {
      if (!this.mayStartAttempt()) return;
      const batch = this.takeBatch(this.options.batchSize, this.options.maxBatchBytes);
      this.inFlight = batch;
      let left: Batch[];
      try {
        left = await this.deliver(batch);
      } finally {
        this.inFlight = undefined;
      }
      // Hiding the page meanwhile may have stored this batch.
      if (left.length === 0 || left[0] !== batch) this.removePending(batch);
      if (left.length === 0) continue;
      for (const rest of left) this.addPending(rest);
      return;
    }
  }

  /** Sends one batch with retries; returns what is still undelivered (nothing, the batch, or parts of it). */
  private async deliver(batch: Batch): Promise<Batch[]> {
    let plainAfterGzipFailed = false;
    for (let attempt = 0; ; attempt++) {
      const result = await this.send(batch, false, this.compress && !plainAfterGzipFailed);
      switch (result.kind) {
        case 'accepted':
          this.consecutiveFailures = 0;
          if (plainAfterGzipFailed && this.compress) {
            this.compress = false;
            this.report(
              'gzip',
              'loglens: gzip requests got no answer while plain JSON went through (does the server\'s CORS allow the ' +
                'Content-Encoding header?); sending plain JSON from now on',
            );
          }
          this.accept(batch, result.rejected);
          return [];
        case 'refused':
          this.refuse(batch, `HTTP ${result.status}`, result.detail);
          return [];
        case 'gzip-refused':
          this.compress = false;
          this.report('gzip', 'loglens: the server refused a gzip body (HTTP 415); sending plain JSON from now on');
          attempt--;
          continue;
        case 'too-large':
          return this.split(batch);
        case 'retry': {
          // A browser reports a CORS refusal of the Content-Encoding header as a plain network error.
          if (result.gzipped && result.status === undefined && !result.timedOut && !plainAfterGzipFailed) {
            plainAfterGzipFailed = true;
            attempt--;
            continue;
          }
          let delay = backoffDelay(attempt, this.options.retryBaseMs, this.options.retryMaxMs);
          if (result.retryAfterMs !== undefined) {
            if (result.retryAfterMs > this.options.retryMaxMs) {
              this.retryAfterUntil = Date.now() + result.retryAfterMs;
              return [batch];
            }
            delay = Math.max(delay, result.retryAfterMs);
          }
          if (attempt >= this.options.maxRetries || Date.now() + delay >= this.deadline) {
            this.giveUpForNow(attempt + 1, result.reason);
            return [batch];
          }
          this.counters.retries++;
          await sleep(delay);
        }
      }
    }
  }

  private giveUpForNow(attempts: number, reason: string): void {
    this.consecutiveFailures++;
    const pause = backoffDelay(this.consecutiveFailures, this.options.flushIntervalMs, 10 * this.options.retryMaxMs);
    this.pausedUntil = Date.now() + Math.max(pause, this.options.flushIntervalMs);
    this.report(
      'unreachable',
      `loglens: could not deliver ${attempts === 1 ? 'a batch' : `a batch in ${attempts} attempts`} (${reason}); ` +
        'it is kept and retried later',
    );
  }

  private async split(batch: Batch): Promise<Batch[]> {
    if (batch.records.length <= 1) {
      this.refuse(batch, 'HTTP 413', 'a single record is larger than the server accepts');
      return [];
    }
    const middle = Math.ceil(batch.records.length / 2);
    const first = makeBatch(batch.records.slice(0, middle), batch.carriedDrops);
    const second = makeBatch(batch.records.slice(middle), 0);
    const left = await this.deliver(first);
    if (left.length > 0) return [...left, second];
    return this.deliver(second);
  }

  private send(batch: Batch, keepalive: boolean, compress = this.compress): Promise<SendResult> {
    return sendBatch(bodyOf(batch), {
      url: this.endpoint,
      apiKey: this.apiKey,
      compress,
      timeoutMs: this.options.requestTimeoutMs,
      keepalive,
      fetch: this.fetchImpl,
    });
  }

  private accept(batch: Batch, rejected: RejectedRecord[]): void {
    const count = Math.min(rejected.length, batch.records.length);
    this.counters.sent += batch.records.length - count;
    if (count === 0) return;
    this.counters.rejected += count;
    if (batch.carriedDrops > 0 && rejected.some((entry) => entry.index === 0)) this.unreportedDrops += batch.carriedDrops;
    const sample = rejected
      .slice(0, 3)
      .map((entry) => `#${entry.index}: ${safeStringify(entry.errors)}`)
      .join('; ');
    this.report('rejected', `loglens: the server rejected ${count} of ${batch.records.length} records (not retried): ${sample}`);
  }

  private refuse(batch: Batch, status: string, detail: string): void {
    this.counters.rejected += batch.records.length;
    if (batch.carriedDrops > 0) this.unreportedDrops += batch.carriedDrops;
    this.report(
      `refused ${status}`,
      `loglens: the server refused a batch of ${batch.records.length} records with ${status} (not retried): ${detail}`,
    );
  }

  private addPending(batch: Batch, atFront = false): void {
    if (this.pending.some((waiting) => waiting.id === batch.id)) return;
    if (atFront) this.pending.unshift(batch);
    else this.pending.push(batch);
    let chars = this.pending.reduce((sum, waiting) => sum + waiting.bytes, 0);
    while (
      this.pending.length > this.options.maxStoredBatches ||
      (this.pending.length > 1 && chars > this.options.maxStoredBytes)
    ) {
      const oldest = this.pending.shift()!;
      chars -= oldest.bytes;
      this.forgetStored(oldest.id);
      this.countDrops(oldest.records.length);
    }
    if (!this.store || !this.pending.includes(batch)) return;
    const stored: StoredBatch = { id: batch.id, records: batch.records };
    this.storedIds.add(batch.id);
    for (const evicted of this.store.add(stored)) {
      if (evicted.id === batch.id) {
        // Too big for storage on its own: it still waits in memory.
        this.storedIds.delete(batch.id);
        continue;
      }
      this.storedIds.delete(evicted.id);
      const index = this.pending.findIndex((waiting) => waiting.id === evicted.id);
      if (index >= 0) this.pending.splice(index, 1);
      this.countDrops(evicted.records.length);
    }
  }

  private removePending(batch: Batch): void {
    const index = this.pending.findIndex((waiting) => waiting.id === batch.id);
    if (index >= 0) this.pending.splice(index, 1);
    this.forgetStored(batch.id);
  }

  private forgetStored(id: string): void {
    if (!this.store || !this.storedIds.has(id)) return;
    this.storedIds.delete(id);
    this.store.remove(id);
  }

  /** Moves the queue (and the batch in flight) into the stored pending batches, in keepalive-sized pieces. */
  private persistQueue(): Batch[] {
    const batches: Batch[] = [];
    const inFlight = this.inFlight;
    if (inFlight && !this.pending.some((waiting) => waiting.id === inFlight.id)) batches.push(inFlight);
    while (this.queue.length > 0) batches.push(this.takeBatch(SERVER_MAX_RECORDS, KEEPALIVE_BUDGET_BYTES));
    for (const batch of batches) this.addPending(batch);
    return batches.filter((batch) => this.pending.includes(batch));
  }

  /**
   * Page is being hidden or unloaded: store first (so a page that dies still replays on the next load; the
   * server deduplicates the replay on event_id), then send what fits the keepalive budget.
   */
  private sendWhileHiding(): void {
    try {
      let budget = KEEPALIVE_BUDGET_BYTES;
      for (const batch of this.persistQueue()) {
        if (batch.bytes > budget) break;
        budget -= batch.bytes;
        this.sendOneWhileHiding(batch);
      }
    } catch (err) {
      this.report('internal', `loglens: could not send logs while the page was hidden: ${String(err)}`);
    }
  }

  private sendOneWhileHiding(batch: Batch): void {
    const body = bodyOf(batch);
    const nav = this.env?.navigator;
    // A beacon cannot carry the x-api-key header, and the key must never go into a URL.
    if (!this.apiKey && nav && typeof nav.sendBeacon === 'function' && typeof Blob === 'function') {
      let queued = false;
      try {
        queued = nav.sendBeacon(this.endpoint, new Blob([body], { type: 'application/json' }));
      } catch {
        queued = false;
      }
      if (queued) {
        this.removePending(batch);
        return;
      }
    }
    void this.send(batch, true).then((result) => {
      if (result.kind === 'accepted') {
        this.accept(batch, result.rejected);
        this.removePending(batch);
      } else if (result.kind === 'refused') {
        this.refuse(batch, `HTTP ${result.status}`, result.detail);
        this.removePending(batch);
      }
      // Anything else stays stored for a later flush or the next page load.
    }).catch(() => undefined);
  }

  private listenToPage(env: BrowserEnv): void {
    const onPageHide = (): void => this.sendWhileHiding();
    const onVisibilityChange = (): void => {
      if (env.document?.visibilityState === 'hidden') this.sendWhileHiding();
    };
    this.on(env.window, 'pagehide', onPageHide);
    if (env.document) this.on(env.document, 'visibilitychange', onVisibilityChange);
    if (!this.options.captureErrors) return;
    this.on(env.window, 'error', (event: ErrorEventLike) => {
      try {
        const thrown = event?.error != null ? describeThrown(event.error) : undefined;
        this.log('ERROR', thrown?.message || event?.message || 'Uncaught error', {
          error_type: thrown?.errorType ?? 'Error',
          stack_trace: thrown?.stack,
          metadata: { loglens_capture: 'error', source: event?.filename, line: event?.lineno, column: event?.colno },
        });
      } catch {
        // capturing must never add an error of its own
      }
    });
    this.on(env.window, 'unhandledrejection', (event: { reason?: unknown }) => {
      try {
        const thrown = describeThrown(event?.reason);
        this.log('ERROR', thrown.message || 'Unhandled promise rejection', {
          error_type: thrown.errorType ?? 'UnhandledRejection',
          stack_trace: thrown.stack,
          metadata: { loglens_capture: 'unhandledrejection' },
        });
      } catch {
        // capturing must never add an error of its own
      }
    });
  }

  private on(
    target: BrowserEnv['window'] | NonNullable<BrowserEnv['document']>,
    type: string,
    listener: (event: any) => void,
  ): void {
    target.addEventListener(type, listener);
    this.detach.push(() => target.removeEventListener(type, listener));
  }

  private listenToProcess(): void {
    const proc = nodeProcess();
    if (!proc) return;
    // Runs when the event loop is about to empty: a last chance for records logged just before the end.
    const onBeforeExit = (): void => {
      if (this.running > 0) return;
      if (this.queue.length > 0) {
        void this.flush();
        return;
      }
      const left = this.pending.reduce((sum, batch) => sum + batch.records.length, 0);
      if (left > 0) this.report('undelivered', `loglens: ${left} records were not delivered before exit`);
    };
    proc.on('beforeExit', onBeforeExit);
    this.detach.push(() => proc.off('beforeExit', onBeforeExit));
  }

  private report(kind: string, message: string): void {
    const seen = (this.warnings.get(kind) ?? 0) + 1;
    this.warnings.set(kind, seen);
    if (seen > WARNINGS_PER_KIND) return;
    const suffix = seen === WARNINGS_PER_KIND ? ' (further warnings like this are suppressed; see stats())' : '';
    try {
      console.warn(message + suffix);
    } catch {
      // no console: nothing to report to
    }
  }
}

interface ErrorEventLike {
  message?: string;
  error?: unknown;
  filename?: string;
  lineno?: number;
  colno?: number;
}

function bodyOf(batch: Batch): string {
  return `{"logs":[${batch.records.join(',')}]}`;
}

function makeBatch(records: string[], carriedDrops: number, id: string = uuid()): Batch {
  const bytes = EMPTY_BODY_BYTES + records.reduce((sum, json) => sum + utf8Length(json), 0) + Math.max(0, records.length - 1);
  return { id, records, bytes, carriedDrops };
}

function withDropCount(json: string, dropped: number): string {
  const record = JSON.parse(json) as Record<string, unknown>;
  const metadata = isPlainObject(record['metadata']) ? record['metadata'] : {};
  const earlier = typeof metadata['loglens_client_dropped'] === 'number' ? metadata['loglens_client_dropped'] : 0;
  record['metadata'] = { ...metadata, loglens_client_dropped: earlier + dropped };
  return JSON.stringify(record);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`LogHelper: ${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`LogHelper: ${name} must be zero or more, got ${String(value)}`);
  }
  return value;
}
