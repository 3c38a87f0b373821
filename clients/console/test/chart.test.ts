import { describe, expect, it } from 'vitest';
import { chooseChart, describeChart, MAX_SERIES } from '../src/chart';

const hour = (h: number) => `2026-03-10T${String(h).padStart(2, '0')}:00:00+00:00`;

describe('chooseChart picks the chart from the shape of the result', () => {
  it('shows one number big', () => {
    expect(chooseChart(['count'], [[342]])).toEqual({ kind: 'number', label: 'count', value: 342 });
  });

  it('draws a timestamp and numbers as a time series, bars when there are few points', () => {
    const spec = chooseChart(['hour', 'errors'], [[hour(2), 5], [hour(0), 3], [hour(1), 4]]);
    expect(spec.kind).toBe('time');
    if (spec.kind !== 'time') return;
    expect(spec.style).toBe('bar');
    expect(spec.x).toEqual([0, 1, 2].map((h) => Date.parse(hour(h)) / 1000)); // sorted by time
    expect(spec.series).toEqual([{ label: 'errors', values: [3, 4, 5] }]);
  });

  it('draws many points or several series as lines', () => {
    const rows = Array.from({ length: 100 }, (_, i) => [new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), i, i * 2]);
    const spec = chooseChart(['minute', 'a', 'b'], rows);
    expect(spec.kind === 'time' && spec.style).toBe('line');
    expect(spec.kind === 'time' && spec.series.map((s) => s.label)).toEqual(['a', 'b']);
  });

  it('pivots time + category + number into one series per category, the rest as other', () => {
    const services = Array.from({ length: MAX_SERIES + 3 }, (_, i) => `svc-${i}`);
    const rows = services.flatMap((service, i) => [
      [hour(0), service, 100 - i],
      [hour(1), service, 50 - i],
    ]);
    const spec = chooseChart(['hour', 'service', 'errors'], rows);
    expect(spec.kind).toBe('time');
    if (spec.kind !== 'time') return;
    expect(spec.series).toHaveLength(MAX_SERIES);
    expect(spec.series[0]).toEqual({ label: 'svc-0', values: [100, 50] });
    const other = spec.series.at(-1)!;
    expect(other.label).toBe('other');
    expect(other.values[0]).toBe([7, 8, 9, 10].reduce((sum, i) => sum + 100 - i, 0));
  });

  it('draws a category and numbers as bars', () => {
    const spec = chooseChart(['service', 'errors'], [['payment-api', 12], ['search-api', 3]]);
    expect(spec).toEqual({ kind: 'bars', xLabel: 'service', categories: ['payment-api', 'search-api'], series: [{ label: 'errors', values: [12, 3] }] });
    expect(describeChart(spec)).toBe('Bar chart of errors by service, 2 bars');
  });

  it('shows one row of several numbers as bars per column', () => {
    const spec = chooseChart(['p50', 'p95', 'p99'], [[12, 80, 200]]);
    expect(spec.kind === 'bars' && spec.categories).toEqual(['p50', 'p95', 'p99']);
  });

  it('leaves text-only, nested or empty results to the table', () => {
    expect(chooseChart(['message'], [['boom']])).toEqual({ kind: 'none' });
    expect(chooseChart(['metadata', 'n'], [[{ a: 1 }, 2]])).toEqual({ kind: 'none' });
    expect(chooseChart(['n'], [])).toEqual({ kind: 'none' });
    expect(chooseChart(['hour', 'a', 'b', 'c'], [[hour(0), 'x', 'y', 1]])).toEqual({ kind: 'none' });
  });

  it('tolerates nulls in numbers and reads dates as times', () => {
    const spec = chooseChart(['day', 'avg_ms'], [['2026-03-01', 1.5], ['2026-03-02', null]]);
    expect(spec.kind === 'time' && spec.series[0]!.values).toEqual([1.5, null]);
  });
});
