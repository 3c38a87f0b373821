import { Writable } from 'node:stream';
import { LogHelper } from './log-helper.js';
import type { DestroyOptions, LogHelperConfig } from './types.js';

/** Options of the pino transport: LogHelper's (logServerUrl, service, apiKey, batching, retries, …). */
export interface PinoTransportOptions extends LogHelperConfig {
  /** How long closing the stream may spend delivering what is queued. Default 10000 ms. */
  closeTimeoutMs?: number;
}

// pino's and bunyan's numeric scale; values in between round down, as on the server.
function levelWord(level: unknown): string {
  if (typeof level === 'string') return level;
  if (typeof level !== 'number' || !Number.isFinite(level)) return 'INFO';
  if (level < 20) return 'TRACE';
  if (level < 30) return 'DEBUG';
  if (level < 40) return 'INFO';
  if (level < 50) return 'WARN';
  if (level < 60) return 'ERROR';
  return 'FATAL';
}

/**
 * A writable stream of pino's newline-delimited JSON that hands every line to a LogHelper, so records are
 * batched, retried and kept while the server is away exactly as `LogHelper.log` does. pino's own fields
 * (`err`, `req`, `res`, `hostname`, `pid`, bindings) are sent as they are; the server maps them (`err.type` →
 * error_type, `err.stack` → stack_trace, `res.statusCode` → http_status_code, the rest → metadata).
 */
export class LoglensPinoStream extends Writable {
  readonly helper: LogHelper;
  private readonly closeTimeoutMs: number;
  private partial = '';

  constructor(options: PinoTransportOptions) {
    super({ decodeStrings: false });
    const { closeTimeoutMs, ...config } = options;
    this.helper = new LogHelper(config);
    this.closeTimeoutMs = closeTimeoutMs ?? 10_000;
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : String(chunk));
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.ship(line);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.partial) this.ship(this.partial);
    this.partial = '';
    const options: DestroyOptions = { timeoutMs: this.closeTimeoutMs };
    this.helper.destroy(options).then(() => callback(), () => callback());
  }

  private ship(line: string): void {
    if (!line.trim()) return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      this.helper.log('INFO', line); // not pino's JSON (a prettifier in front?): keep the text
      return;
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      this.helper.log('INFO', line);
      return;
    }
    const { level, msg, time, ...fields } = record as Record<string, unknown>;
    if (typeof time === 'number') fields['timestamp'] = new Date(time);
    else if (typeof time === 'string') fields['timestamp'] = time;
    // Without msg (pino's `logger.info({...})`), the server makes the fields' JSON the message.
    this.helper.log(levelWord(level), typeof msg === 'string' ? msg : msg === undefined ? '' : String(msg), fields);
  }
}

/** A pino destination in this thread: `pino(options, loglensDestination({ logServerUrl, service }))`. */
export function loglensDestination(options: PinoTransportOptions): LoglensPinoStream {
  return new LoglensPinoStream(options);
}

/** The pino transport target: `pino.transport({ target: '@loglens/client/pino', options: {...} })`. */
export default async function pinoTransport(options: PinoTransportOptions): Promise<LoglensPinoStream> {
  return new LoglensPinoStream(options);
}
