import TransportStream from 'winston-transport';
import { LogHelper } from './log-helper.js';
import type { DestroyOptions, LogHelperConfig } from './types.js';

/** LogHelper's options plus winston's own transport options (level, format, silent, handleExceptions, …). */
export interface LoglensTransportOptions extends LogHelperConfig, TransportStream.TransportStreamOptions {
  /** How long closing may spend delivering what is queued. Default 10000 ms. */
  closeTimeoutMs?: number;
}

const LEVEL = Symbol.for('level');

/**
 * A winston transport: `winston.createLogger({ transports: [new LoglensTransport({ logServerUrl, service })] })`.
 * Records go through a LogHelper (batching, retries, nothing lost while the server is away). winston's
 * fields are sent as they are (`timestamp` from format.timestamp(), `stack` from format.errors(), metadata);
 * the server maps them. `logger.close()` or ending the logger delivers what is queued.
 */
export class LoglensTransport extends TransportStream {
  readonly helper: LogHelper;
  private readonly closeTimeoutMs: number;
  private closing: Promise<void> | undefined;

  constructor(options: LoglensTransportOptions) {
    const { level, silent, format, handleExceptions, handleRejections, closeTimeoutMs, ...config } = options;
    super({ level, silent, format, handleExceptions, handleRejections });
    this.helper = new LogHelper(config);
    this.closeTimeoutMs = closeTimeoutMs ?? 10_000;
  }

  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    setImmediate(() => this.emit('logged', info));
    try {
      const { level, message, ...fields } = info;
      // The level before format.colorize() painted it, when winston kept it.
      const word = typeof info[LEVEL] === 'string' ? (info[LEVEL] as string) : String(level);
      if (info instanceof Error) {
        fields['error_type'] ??= info.name;
        fields['stack_trace'] ??= info.stack;
      }
      const text = message instanceof Error || typeof message === 'string' ? message : String(message ?? '');
      this.helper.log(word, text, fields);
    } finally {
      next();
    }
  }

  /** Sends what is queued now; resolves when this pass is over (never rejects). */
  flush(): Promise<void> {
    return this.helper.flush();
  }

  /** Stops the helper after delivering what is queued within closeTimeoutMs. */
  shutdown(options: DestroyOptions = { timeoutMs: this.closeTimeoutMs }): Promise<void> {
    this.closing ??= this.helper.destroy(options);
    return this.closing;
  }

  /** Called by winston's `logger.close()`. */
  override close(): void {
    void this.shutdown();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.shutdown().then(() => callback(), () => callback());
  }
}

export default LoglensTransport;
