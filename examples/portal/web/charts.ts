// Trend charts with uPlot (a small, well-kept time-series chart library).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One line of a chart. */
export interface Line {
  label: string;
  values: (number | null)[];
  stroke: string;
  unit?: string;
}

const charts = new Set<uPlot>();

/**
 * Draws a line chart over dates (`YYYY-MM-DD`) into `target`, sized to its width (phone
 * screens included).
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
      axes: [{}, { size: 64 }],
      series: [
        {},
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.stroke,
          width: 2,
          points: { show: options.points ?? true, size: 6 },
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
