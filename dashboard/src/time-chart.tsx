import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useEffect, useRef } from "preact/hooks";

export interface ChartSeries {
  readonly label: string;
  readonly colour: string;
  readonly values: readonly (number | null)[];
  readonly dashed?: boolean;
}

const HEIGHT = 180;

/** A line chart over time (uPlot), redrawn in place as samples arrive; rebuilt when its series change. */
export function TimeChart({ title, unit, times, series }: { readonly title: string; readonly unit: string; readonly times: readonly number[]; readonly series: readonly ChartSeries[] }) {
  const holder = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | undefined>(undefined);
  const shape = series.map((s) => s.label).join("|");
  const data = (): uPlot.AlignedData => [times as number[], ...series.map((s) => s.values as (number | null)[])];

  useEffect(() => {
    const element = holder.current;
    if (element === null) return;
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height: HEIGHT,
      // At least the last minute across, so a few first samples do not stretch over years.
      scales: { x: { time: true, range: (_u, min, max) => [Math.min(min, max - 60), max] }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [{}, { label: unit, size: 60 }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 2, ...(s.dashed === true ? { dash: [6, 4] } : {}) }))],
      legend: { live: false },
    };
    const created = new uPlot(options, data(), element);
    chart.current = created;
    const resize = new ResizeObserver(() => created.setSize({ width: Math.max(element.clientWidth, 200), height: HEIGHT }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      created.destroy();
      chart.current = undefined;
    };
  }, [shape, unit]); // rebuilt only when the series change

  useEffect(() => chart.current?.setData(data()));

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={holder} role="img" aria-label={`${title} over time`} />
    </figure>
  );
}
