import { ErrorMessage } from "./error-message.js";
import { formatDuration } from "./format.js";
import { useMetricsHistory, type MetricsSample } from "./metrics-history.js";
import { TimeChart, type ChartSeries } from "./time-chart.js";

const STATUS_COLOURS = { blocked: "#8c6d1f", pending: "#2f6fdf", running: "#d97706" } as const;
const PALETTE = ["#2f6fdf", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"];

/** Queue metrics over the time this page has been open: `GET /metrics`, polled. */
export function MetricsView() {
  const { samples, error } = useMetricsHistory();
  const last = samples[samples.length - 1];
  const times = samples.map((s) => s.at);
  const pick = (f: (s: MetricsSample) => number) => samples.map(f);
  const statuses = (Object.keys(STATUS_COLOURS) as (keyof typeof STATUS_COLOURS)[]).map((status) => ({
    label: status,
    colour: STATUS_COLOURS[status],
    values: pick((s) => s.metrics.jobs.byStatus[status]),
  }));
  const resourceNames = [...new Set(samples.flatMap((s) => Object.keys(s.metrics.resources.capacity)))].sort();
  const resources: ChartSeries[] = resourceNames.flatMap((name, i) => {
    const colour = PALETTE[i % PALETTE.length] as string;
    return [
      { label: `${name} in use`, colour, values: samples.map((s) => s.metrics.resources.inUse[name] ?? 0) },
      { label: `${name} capacity`, colour, dashed: true, values: samples.map((s) => s.metrics.resources.capacity[name] ?? null) },
    ];
  });

  return (
    <section aria-labelledby="metrics-heading">
      <h1 id="metrics-heading">Metrics</h1>
      <p class="hint">Polled every 2 s while the dashboard is open; timings and rates are those of the process serving it, over its sliding window.</p>
      {error !== undefined && <ErrorMessage error={error} what="read the metrics" />}
      {last !== undefined && (
        <dl class="tiles" aria-label="Now">
          <Tile name="Pending" value={String(last.metrics.jobs.byStatus.pending)} />
          <Tile name="Running" value={`${last.metrics.running} / ${last.metrics.concurrency}`} />
          <Tile name="Wait p50" value={formatDuration(last.metrics.waitTimeMs.p50)} />
          <Tile name="Wait p99" value={formatDuration(last.metrics.waitTimeMs.p99)} />
          <Tile name="Failure rate" value={`${(last.metrics.failureRate * 100).toFixed(1)} %`} />
          <Tile name="Throughput" value={`${last.metrics.throughputPerSecond.toFixed(2)} /s`} />
          <Tile name="Unschedulable" value={String(last.metrics.unschedulable)} />
        </dl>
      )}
      <div class="charts">
        <TimeChart title="Queue length by status" unit="jobs" times={times} series={statuses} />
        <TimeChart
          title="Wait time"
          unit="ms"
          times={times}
          series={[
            { label: "p50", colour: "#2f6fdf", values: pick((s) => s.metrics.waitTimeMs.p50) },
            { label: "p99", colour: "#dc2626", values: pick((s) => s.metrics.waitTimeMs.p99) },
          ]}
        />
        <TimeChart title="Failure rate" unit="%" times={times} series={[{ label: "failed attempts", colour: "#dc2626", values: pick((s) => s.metrics.failureRate * 100) }]} />
        <TimeChart title="Throughput" unit="jobs/s" times={times} series={[{ label: "completed", colour: "#16a34a", values: pick((s) => s.metrics.throughputPerSecond) }]} />
        <TimeChart title="Resources in use and capacity" unit="units" times={times} series={resources} />
      </div>
    </section>
  );
}

function Tile({ name, value }: { readonly name: string; readonly value: string }) {
  return (
    <div class="tile">
      <dt>{name}</dt>
      <dd>{value}</dd>
    </div>
  );
}
