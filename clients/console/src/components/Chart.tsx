// A chart for a result, chosen by chart.ts and drawn by uPlot (canvas, ~20 KB gzipped, fast on thousands of points).
// The figure has a text description; the table beside it carries every value for readers who cannot see it.
import { useEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { chooseChart, describeChart, type ChartSpec } from '../chart';
import { formatNumber } from '../format';
import type { Cell } from '../types';

// Okabe-Ito: told apart with the common colour-vision deficiencies, each at least 3:1 against white.
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#B8860B', '#0F7FA8', '#000000', '#767676'];

export function ResultChart({ columns, rows }: { columns: string[]; rows: Cell[][] }) {
  const spec = useMemo(() => chooseChart(columns, rows), [columns, rows]);
  return <ChartView spec={spec} />;
}

export function ChartView({ spec, height = 240 }: { spec: ChartSpec; height?: number }) {
  if (spec.kind === 'none') return null;
  const description = describeChart(spec);
  if (spec.kind === 'number') {
    return (
      <figure class="chart big-number" aria-label={description}>
        <span class="big-number-value">{formatNumber(spec.value)}</span>
        <figcaption>{spec.label}</figcaption>
      </figure>
    );
  }
  return (
    <figure class="chart" data-chart={spec.kind === 'time' ? `time-${spec.style}` : 'bars'}>
      <Plot spec={spec} height={height} label={description} />
      <figcaption class="visually-hidden">{description}</figcaption>
    </figure>
  );
}

function Plot({ spec, height, label }: { spec: Extract<ChartSpec, { kind: 'time' | 'bars' }>; height: number; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element || !canDraw()) return;
    const width = () => Math.max(element.clientWidth || 600, 280);
    let plot: uPlot;
    try {
      plot = new uPlot(options(spec, width(), height), data(spec), element);
    } catch {
      return; // no canvas (a test DOM): the table still shows the numbers
    }
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [spec, height]);
  return <div ref={host} class="plot" role="img" aria-label={label} />;
}

function canDraw(): boolean {
  try {
    return typeof ResizeObserver !== 'undefined' && !!document.createElement('canvas').getContext('2d');
  } catch {
    return false;
  }
}

function data(spec: Extract<ChartSpec, { kind: 'time' | 'bars' }>): uPlot.AlignedData {
  const x = spec.kind === 'time' ? spec.x : spec.categories.map((_, i) => i);
  return [x, ...spec.series.map((s) => s.values)] as uPlot.AlignedData;
}

function options(spec: Extract<ChartSpec, { kind: 'time' | 'bars' }>, width: number, height: number): uPlot.Options {
  const bars = spec.kind === 'bars' || spec.style === 'bar';
  const barPaths = uPlot.paths.bars!({ size: [0.8, 48] });
  const axisStyle = { stroke: '#333', grid: { stroke: '#e3e3e3' }, ticks: { stroke: '#c8c8c8' } };
  const xAxis: uPlot.Axis =
    spec.kind === 'bars'
      ? {
          ...axisStyle,
          splits: () => spec.categories.map((_, i) => i),
          values: (_u, splits) => splits.map((i) => truncate(spec.categories[i] ?? '', 14)),
          rotate: spec.categories.length > 8 ? -40 : 0,
          size: spec.categories.length > 8 ? 70 : 40,
        }
      : { ...axisStyle };
  return {
    width,
    height,
    scales: {
      x: spec.kind === 'bars' ? { time: false, range: [-0.5, spec.categories.length - 0.5] } : { time: true },
      // Bars are read by their length, so they start at zero.
      ...(bars ? { y: { range: (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => [Math.min(0, min), max > 0 ? max * 1.08 : 1] } } : {}),
    },
    legend: { show: spec.series.length > 1 || spec.kind === 'time' },
    cursor: { points: { show: !bars } },
    series: [
      { label: spec.xLabel || 'x', value: spec.kind === 'bars' ? (_u, i) => spec.categories[i] ?? '' : undefined },
      ...spec.series.map((series, i) => ({
        label: series.label,
        stroke: PALETTE[i % PALETTE.length],
        fill: bars ? `${PALETTE[i % PALETTE.length]}${spec.series.length > 1 ? '99' : 'dd'}` : undefined,
        width: bars ? 0 : 2,
        paths: bars ? barPaths : undefined,
        points: { show: false },
        spanGaps: false,
        value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : formatNumber(v)),
      })),
    ],
    axes: [xAxis, { ...axisStyle, size: 56, values: (_u, splits) => splits.map((v) => formatNumber(v)) }],
  };
}

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
