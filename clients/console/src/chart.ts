// Which chart a result gets, from its shape alone (no hints from the server):
//   one number                                  -> a big number
//   a time column + numbers                     -> a time series (bars when few points, else lines)
//   a time column + one category + one number   -> a time series per category (the top ones, the rest as "other")
//   a category column + numbers                 -> bars per category
//   anything else                               -> no chart; the table says it
import type { Cell } from './types';

export interface Series {
  label: string;
  values: (number | null)[];
}

export type ChartSpec =
  | { kind: 'number'; label: string; value: number }
  | { kind: 'time'; style: 'line' | 'bar'; x: number[]; xLabel: string; series: Series[] }
  | { kind: 'bars'; categories: string[]; xLabel: string; series: Series[] }
  | { kind: 'none' };

export const MAX_SERIES = 8;
export const MAX_CATEGORIES = 30;
const BAR_POINTS = 60;
const TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

type Kind = 'number' | 'time' | 'text' | 'other';

function kindOf(values: Cell[]): Kind {
  const present = values.filter((value) => value !== null);
  if (!present.length) return 'other';
  if (present.every((value) => typeof value === 'number' && Number.isFinite(value))) return 'number';
  if (present.every((value) => typeof value === 'string' && TIME.test(value) && !Number.isNaN(Date.parse(value)))) return 'time';
  if (present.every((value) => typeof value === 'string' || typeof value === 'boolean')) return 'text';
  return 'other';
}

export function chooseChart(columns: string[], rows: Cell[][]): ChartSpec {
  if (!rows.length || !columns.length) return { kind: 'none' };
  const kinds = columns.map((_, i) => kindOf(rows.map((row) => row[i] ?? null)));
  const numbers = kinds.flatMap((kind, i) => (kind === 'number' ? [i] : []));
  const times = kinds.flatMap((kind, i) => (kind === 'time' ? [i] : []));
  const texts = kinds.flatMap((kind, i) => (kind === 'text' ? [i] : []));
  if (rows.length === 1 && columns.length === 1 && numbers.length === 1) {
    return { kind: 'number', label: columns[0]!, value: rows[0]![0] as number };
  }
  if (!numbers.length) return { kind: 'none' };
  if (times.length === 1 && numbers.length >= 1) {
    const t = times[0]!;
    if (texts.length === 1 && numbers.length === 1) return pivot(columns, rows, t, texts[0]!, numbers[0]!);
    if (texts.length === 0) return timeSeries(columns, rows, t, numbers);
  }
  if (times.length === 0 && texts.length >= 1) {
    const label = texts[0]!;
    const shown = rows.slice(0, MAX_CATEGORIES);
    return {
      kind: 'bars',
      xLabel: columns[label]!,
      categories: shown.map((row) => String(row[label] ?? '—')),
      series: numbers.slice(0, MAX_SERIES).map((i) => ({ label: columns[i]!, values: shown.map((row) => row[i] as number | null) })),
    };
  }
  if (times.length === 0 && texts.length === 0 && rows.length === 1 && numbers.length === columns.length) {
    return {
      kind: 'bars',
      xLabel: '',
      categories: numbers.map((i) => columns[i]!),
      series: [{ label: 'value', values: numbers.map((i) => rows[0]![i] as number) }],
    };
  }
  return { kind: 'none' };
}

function style(points: number, series: number): 'line' | 'bar' {
  return points <= BAR_POINTS && series === 1 ? 'bar' : 'line';
}

function timeSeries(columns: string[], rows: Cell[][], t: number, numbers: number[]): ChartSpec {
  const sorted = [...rows].sort((a, b) => Date.parse(String(a[t])) - Date.parse(String(b[t])));
  const series = numbers.slice(0, MAX_SERIES).map((i) => ({ label: columns[i]!, values: sorted.map((row) => row[i] as number | null) }));
  return {
    kind: 'time',
    style: style(sorted.length, series.length),
    xLabel: columns[t]!,
    x: sorted.map((row) => Date.parse(String(row[t])) / 1000),
    series,
  };
}

function pivot(columns: string[], rows: Cell[][], t: number, category: number, value: number): ChartSpec {
  const totals = new Map<string, number>();
  for (const row of rows) {
    const name = String(row[category] ?? '—');
    totals.set(name, (totals.get(name) ?? 0) + Number(row[value] ?? 0));
  }
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([name]) => name);
  const kept = new Set(ranked.slice(0, ranked.length > MAX_SERIES ? MAX_SERIES - 1 : MAX_SERIES));
  const labels = [...kept, ...(ranked.length > kept.size ? ['other'] : [])];
  const x = [...new Set(rows.map((row) => Date.parse(String(row[t]))))].sort((a, b) => a - b);
  const slot = new Map(x.map((ms, i) => [ms, i]));
  const series = labels.map((label) => ({ label, values: x.map(() => null as number | null) }));
  const index = new Map(labels.map((label, i) => [label, i]));
  for (const row of rows) {
    const name = String(row[category] ?? '—');
    const target = series[index.get(kept.has(name) ? name : 'other')!]!;
    const at = slot.get(Date.parse(String(row[t])))!;
    target.values[at] = (target.values[at] ?? 0) + Number(row[value] ?? 0);
  }
  return { kind: 'time', style: style(x.length, series.length), xLabel: columns[t]!, x: x.map((ms) => ms / 1000), series };
}

/** One sentence for screen readers and the figure caption. */
export function describeChart(spec: ChartSpec): string {
  switch (spec.kind) {
    case 'number':
      return `${spec.label}: ${spec.value}`;
    case 'time':
      return `${spec.style === 'bar' ? 'Bar' : 'Line'} chart of ${spec.series.map((s) => s.label).join(', ')} over ${spec.xLabel}, ${spec.x.length} points`;
    case 'bars':
      return `Bar chart of ${spec.series.map((s) => s.label).join(', ')} by ${spec.xLabel || 'column'}, ${spec.categories.length} bars`;
    default:
      return '';
  }
}
