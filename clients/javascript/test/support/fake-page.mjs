// Just enough of window, document, navigator and localStorage for the client's browser paths in Node.

export class FakeStorage {
  constructor(quotaChars = Number.POSITIVE_INFINITY) {
    this.items = new Map();
    this.quotaChars = quotaChars;
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    const text = String(value);
    let used = text.length;
    for (const [other, stored] of this.items) if (other !== key) used += stored.length;
    if (used > this.quotaChars) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    this.items.set(key, text);
  }
  removeItem(key) {
    this.items.delete(key);
  }
  /** The stored batches, parsed. */
  batches(key = 'loglens:pending') {
    const raw = this.getItem(key);
    return raw ? JSON.parse(raw).batches : [];
  }
}

export const IPHONE_SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1';

/** Installs globalThis.window for the client to find; returns handles and a way to hide the page. */
export function installPage({ storage = new FakeStorage(), userAgent = IPHONE_SAFARI, sendBeacon } = {}) {
  const win = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = 'visible';
  win.document = doc;
  win.location = { pathname: '/checkout', href: 'https://shop.example/checkout?step=2' };
  win.screen = { width: 390, height: 844 };
  win.localStorage = storage;
  win.navigator = { userAgent, maxTouchPoints: 5 };
  if (sendBeacon) win.navigator.sendBeacon = sendBeacon;
  globalThis.window = win;
  return {
    window: win,
    document: doc,
    storage,
    hide() {
      doc.visibilityState = 'hidden';
      doc.dispatchEvent(new Event('visibilitychange'));
    },
    show() {
      doc.visibilityState = 'visible';
      doc.dispatchEvent(new Event('visibilitychange'));
    },
    pagehide() {
      win.dispatchEvent(new Event('pagehide'));
    },
    throwUncaught(error, message = `Uncaught ${error}`) {
      const event = new Event('error');
      Object.assign(event, { error, message, filename: 'https://shop.example/app.js', lineno: 12, colno: 7 });
      win.dispatchEvent(event);
    },
    rejectUnhandled(reason) {
      const event = new Event('unhandledrejection');
      event.reason = reason;
      win.dispatchEvent(event);
    },
    uninstall() {
      delete globalThis.window;
    },
  };
}

/** A fetch that records each call; keepalive requests can be made to never settle, as when the page dies. */
export function recordingFetch({ keepaliveNeverSettles = false } = {}) {
  const calls = [];
  const impl = (url, init) => {
    calls.push({ url, init });
    if (keepaliveNeverSettles && init.keepalive) return new Promise(() => {});
    return fetch(url, init);
  };
  return { calls, fetch: impl };
}
