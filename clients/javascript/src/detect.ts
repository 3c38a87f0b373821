export type BrowserName = 'Edge' | 'Opera' | 'Samsung Internet' | 'Firefox' | 'Chrome' | 'Safari' | 'Unknown';
export type DeviceType = 'mobile' | 'tablet' | 'desktop';

// Order matters: Edge, Opera and Samsung Internet UAs also contain "Chrome/", and Chrome's contains "Safari/".
const BROWSER_RULES: ReadonlyArray<readonly [RegExp, BrowserName]> = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\/|\bOPiOS\/|\bOPT\/|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
  // No leading \b on purpose: "HeadlessChrome/" is Chrome too.
  [/Chrome\/|\bCriOS\/|\bChromium\//, 'Chrome'],
  [/\bSafari\//, 'Safari'],
];

export function detectBrowser(userAgent: string | undefined | null): BrowserName {
  const ua = userAgent ?? '';
  for (const [pattern, name] of BROWSER_RULES) {
    if (pattern.test(ua)) return name;
  }
  return 'Unknown';
}

/**
 * Device class from the user agent; the screen width (the origin document's only signal) is used only when
 * the UA says nothing, because a narrow desktop window or a wide phone in landscape would be misfiled.
 */
export function detectDevice(
  userAgent: string | undefined | null,
  screenWidth?: number,
  maxTouchPoints?: number,
): DeviceType {
  const ua = userAgent ?? '';
  if (/iPad|Tablet|PlayBook|Silk|Kindle/i.test(ua)) return 'tablet';
  if (/Android/i.test(ua) && !/Mobile/i.test(ua)) return 'tablet';
  // iPadOS 13+ asks for desktop sites with a Macintosh UA; only the touch points give it away.
  if (/Macintosh/.test(ua) && (maxTouchPoints ?? 0) > 1) return 'tablet';
  if (/Mobi|iPhone|iPod|Android|Windows Phone|BlackBerry|Opera Mini/i.test(ua)) return 'mobile';
  if (/Windows|Macintosh|X11|Linux|CrOS/.test(ua)) return 'desktop';
  if (typeof screenWidth === 'number' && screenWidth > 0) {
    if (screenWidth < 768) return 'mobile';
    if (screenWidth < 1024) return 'tablet';
  }
  return 'desktop';
}
