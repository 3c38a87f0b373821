// One LogHelper for the whole page. It adds the browser context to every record (page_path,
// page_url, browser_name, device_type, screen size), captures uncaught errors and unhandled
// rejections, and flushes when the page is hidden or closed.
import LogHelper from '@loglens/client';

export const logger = new LogHelper({
  logServerUrl: import.meta.env.VITE_LOGLENS_URL,
  apiKey: import.meta.env.VITE_LOGLENS_API_KEY,
  service: 'web-app',
  environment: import.meta.env.MODE, // "development" under `npm run dev`, "production" when built
  flushIntervalMs: 1000, // a demo should show its logs at once; the default is 5 s
});

export function newTraceId() {
  return crypto.getRandomValues(new Uint8Array(16)).reduce((hex, b) => hex + b.toString(16).padStart(2, '0'), '');
}
