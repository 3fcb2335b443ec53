// Trend charts with uPlot (a small, well-kept time-series chart library), labelled in Japanese:
// the time axis, the legend's date and every series name.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { axisDates, jpDateOfTs } from './format.ts';

/** One series of a chart. */
export interface Line {
  label: string;
  values: (number | null)[];
  stroke: string;
  unit?: string;
  /** `'points'`: dots only, no line (readings taken on their own, e.g. at home). */
  style?: 'line' | 'points';
}

const charts = new Set<uPlot>();

/**
 * Draws a chart over dates (`YYYY-MM-DD`, ascending; a series has `null` where it has no value)
 * into `target`, sized to its width (phone screens included). Lines run across the gaps of
 * their own series.
 */
export function lineChart(target: HTMLElement, title: string, dates: string[], lines: Line[], options: { height?: number; points?: boolean } = {}): void {
  const xs = dates.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const width = Math.max(260, Math.min(target.clientWidth || 600, 1040));
  const chart = new uPlot(
    {
      title,
      width,
      height: options.height ?? 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Asia/Tokyo'),
      scales: { x: { time: true } },
      axes: [{ space: 64, values: (_u, ticks, _axis, _space, incr) => axisDates(ticks, incr) }, { size: 56 }],
      series: [
        { label: '日付', value: (_u: uPlot, ts: number | null) => (ts == null ? '—' : jpDateOfTs(ts)) },
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.stroke,
          width: 2,
          spanGaps: true,
          ...(l.style === 'points' ? { paths: () => null, points: { show: true, size: 7, fill: '#fff' } } : { points: { show: options.points ?? true, size: 6 } }),
          value: (_u: uPlot, v: number | null) => (v == null ? '—' : `${v}${l.unit ?? ''}`),
        })),
      ],
    },
    [xs, ...lines.map((l) => l.values)] as uPlot.AlignedData,
    target,
  );
  charts.add(chart);
}

/** Destroys every chart (at sign-out, so no view of the data outlives the session). */
export function destroyCharts(): void {
  for (const c of charts) c.destroy();
  charts.clear();
}
