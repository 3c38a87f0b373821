import type { StorageLike } from './storage.js';

interface EventTargetLike {
  addEventListener(type: string, listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
}

export interface NavigatorLike {
  userAgent?: string;
  maxTouchPoints?: number;
  sendBeacon?: (url: string, data?: BodyInit | null) => boolean;
}

export interface WindowLike extends EventTargetLike {
  location?: { pathname?: string; href?: string };
  screen?: { width?: number; height?: number };
}

export interface DocumentLike extends EventTargetLike {
  visibilityState?: string;
}

/** What the client uses of a page, found by feature detection so the same build runs in Node. */
export interface BrowserEnv {
  window: WindowLike;
  document: DocumentLike | undefined;
  navigator: NavigatorLike | undefined;
  storage: StorageLike | undefined;
}

export function detectBrowserEnv(): BrowserEnv | undefined {
  const scope = globalThis as Record<string, any>;
  const win = scope['window'] as (WindowLike & Record<string, any>) | undefined;
  if (!win || typeof win.addEventListener !== 'function') return undefined;
  const doc = (win['document'] ?? scope['document']) as DocumentLike | undefined;
  const nav = (win['navigator'] ?? scope['navigator']) as NavigatorLike | undefined;
  let storage: StorageLike | undefined;
  try {
    // Reading localStorage throws in sandboxed frames and with storage blocked.
    const candidate = win['localStorage'] as StorageLike | undefined | null;
    if (candidate && typeof candidate.getItem === 'function') storage = candidate;
  } catch {
    storage = undefined;
  }
  return { window: win, document: doc && typeof doc.addEventListener === 'function' ? doc : undefined, navigator: nav, storage };
}

/** Web workers have no window but are still front-end code. */
export function isWorker(): boolean {
  return typeof (globalThis as Record<string, unknown>)['WorkerGlobalScope'] !== 'undefined';
}

interface ProcessLike {
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
  versions?: { node?: string };
}

export function nodeProcess(): ProcessLike | undefined {
  const proc = (globalThis as Record<string, unknown>)['process'] as ProcessLike | undefined;
  return proc && typeof proc.on === 'function' && proc.versions?.node ? proc : undefined;
}
