export { LogHelper, LogHelper as default } from './log-helper.js';
export { detectBrowser, detectDevice } from './detect.js';
export type { BrowserName, DeviceType } from './detect.js';
export type {
  ClientStats,
  DestroyOptions,
  FetchLike,
  LogFields,
  LogHelperConfig,
  LogLevel,
  LogRecord,
} from './types.js';
