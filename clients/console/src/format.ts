import type { Cell } from './types';

const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export function formatCell(value: Cell | undefined): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') return NUMBER.format(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

export function formatNumber(value: number): string {
  return NUMBER.format(value);
}

/** A stored time (ISO 8601, UTC) as local time with milliseconds, for record lists. */
export function formatTime(value: Cell | undefined): string {
  if (typeof value !== 'string') return formatCell(value);
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** Rows as objects keyed by column, for record views. */
export function records(columns: string[], rows: Cell[][]): Record<string, Cell>[] {
  return rows.map((row) => Object.fromEntries(columns.map((column, i) => [column, row[i] ?? null])));
}
