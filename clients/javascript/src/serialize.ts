import type { LogLevel } from './types.js';

const LEVELS: ReadonlySet<string> = new Set(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']);
const LEVEL_ALIASES: Readonly<Record<string, LogLevel>> = {
  WARNING: 'WARN',
  ERR: 'ERROR',
  CRITICAL: 'FATAL',
  CRIT: 'FATAL',
  PANIC: 'FATAL',
  INFORMATION: 'INFO',
  NOTICE: 'INFO',
  VERBOSE: 'DEBUG',
  SILLY: 'TRACE', // winston
  HTTP: 'INFO', // winston
  SUCCESS: 'INFO', // loguru
};

/** The stored level, or undefined when the input is not a level at all. */
export function normaliseLevel(level: unknown): LogLevel | undefined {
  const upper = String(level).trim().toUpperCase();
  if (LEVELS.has(upper)) return upper as LogLevel;
  return LEVEL_ALIASES[upper];
}

export function uuid(): string {
  const cryptoApi = (globalThis as { crypto?: Crypto }).crypto;
  // randomUUID exists only in secure contexts; plain-http pages still need ids.
  if (cryptoApi && typeof cryptoApi.randomUUID === 'function') {
    try {
      return cryptoApi.randomUUID();
    } catch {
      // fall through
    }
  }
  const bytes = new Uint8Array(16);
  if (cryptoApi && typeof cryptoApi.getRandomValues === 'function') {
    cryptoApi.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** JSON that cannot throw on application data: cycles, BigInt, Errors and throwing toJSON are all tolerated. */
export function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value, jsonReplacer()) ?? 'null';
  } catch (err) {
    if (!isPlainObject(value)) return JSON.stringify(`[unserialisable: ${String(err)}]`);
    // Keep every field that can be written; only the failing ones become a note.
    const fields: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      try {
        fields[key] = JSON.parse(JSON.stringify(value[key], jsonReplacer()) ?? 'null');
      } catch (fieldErr) {
        fields[key] = `[unserialisable: ${String(fieldErr)}]`;
      }
    }
    return JSON.stringify(fields);
  }
}

function jsonReplacer(): (this: unknown, key: string, item: unknown) => unknown {
  // Ancestors of the value being written (the MDN recipe): only true cycles are cut, shared objects are kept.
  const ancestors: unknown[] = [];
  return function (this: unknown, _key: string, item: unknown): unknown {
    if (typeof item === 'bigint') return item.toString();
    if (item === null || typeof item !== 'object') return item;
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(item)) return '[Circular]';
    const written = item instanceof Error ? { name: item.name, message: item.message, stack: item.stack } : item;
    ancestors.push(written);
    return written;
  };
}

export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

export function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}…[truncated ${text.length - maxChars} chars]`;
}

export interface ErrorInfo {
  message: string;
  errorType: string | undefined;
  stack: string | undefined;
}

/** What a thrown value says about itself, without trusting it to be an Error. */
export function describeThrown(thrown: unknown): ErrorInfo {
  if (thrown !== null && typeof thrown === 'object') {
    const candidate = thrown as { name?: unknown; message?: unknown; stack?: unknown };
    const name = typeof candidate.name === 'string' ? candidate.name : undefined;
    const message = typeof candidate.message === 'string' ? candidate.message : safeStringify(thrown);
    const stack = typeof candidate.stack === 'string' ? candidate.stack : undefined;
    return { message, errorType: name ?? thrown.constructor?.name, stack };
  }
  return { message: String(thrown), errorType: undefined, stack: undefined };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
