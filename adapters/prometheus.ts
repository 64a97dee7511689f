import { Counter, Gauge, Registry } from "prom-client";
import type { JobTypeTotals, Queue, QueueMetrics } from "../src/index.js";
import { registerSnapshotHistogram } from "./prometheus-histogram.js";

/**
 * The queue's metrics on `registry` in Prometheus's conventions, read on each scrape: gauges for
 * levels (from `queue.metrics()`, called once per scrape), counters ending in `_total` and wait and
 * run time histograms in seconds (from `queue.metricsSinceStart()`, labelled by job `type`), so
 * that rates and quantiles can be taken over any range and summed across workers. A registry holds
 * one exporter.
 */
export class PrometheusExporter {
  readonly registry: Registry;
  private inFlight: Promise<QueueMetrics> | undefined;

  constructor(
    private readonly queue: Queue,
    registry?: Registry,
  ) {
    this.registry = registry ?? new Registry();
    const exporter = this;
    const gauge = (name: string, help: string, labelNames: readonly string[], read: (m: QueueMetrics, g: Gauge) => void) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect: async function (this: Gauge) {
          this.reset();
          read(await exporter.snapshot(), this);
        },
      });
    const counter = (name: string, help: string, read: (t: JobTypeTotals) => number) =>
      new Counter({
        name,
        help,
        labelNames: ["type"],
        registers: [this.registry],
        collect: function (this: Counter) {
          this.reset();
          for (const [type, totals] of Object.entries(queue.metricsSinceStart().byType)) this.inc({ type }, read(totals));
        },
      });
    const histogram = (name: string, help: string, read: (t: JobTypeTotals) => JobTypeTotals["waitSeconds"]) =>
      registerSnapshotHistogram(this.registry, name, help, () => {
        const { bucketsSeconds, byType } = queue.metricsSinceStart();
        return { bounds: bucketsSeconds, series: Object.entries(byType).map(([type, totals]) => ({ labels: { type }, histogram: read(totals) })) };
      });

    // Levels.
    gauge("jobgraph_jobs", "Jobs in the store by status (all processes).", ["status"], (m, g) => {
      for (const [status, count] of Object.entries(m.jobs.byStatus)) g.set({ status }, count);
    });
    gauge("jobgraph_queue_length", "Pending jobs by priority (all processes).", ["priority"], (m, g) => {
      for (const [priority, count] of Object.entries(m.jobs.pendingByPriority)) g.set({ priority }, count);
    });
    gauge("jobgraph_running_attempts", "Attempts running in this process.", [], (m, g) => g.set(m.running));
    gauge("jobgraph_concurrency", "Most attempts this process runs at once.", [], (m, g) => g.set(m.concurrency));
    gauge("jobgraph_resource_capacity", "This worker's capacity per resource.", ["resource"], (m, g) => {
      for (const [resource, value] of Object.entries(m.resources.capacity)) g.set({ resource }, value);
    });
    gauge("jobgraph_resource_in_use", "Resources reserved by running attempts in this process.", ["resource"], (m, g) => {
      for (const [resource, value] of Object.entries(m.resources.inUse)) g.set({ resource }, value);
    });
    gauge("jobgraph_unschedulable_jobs", "Runnable jobs seen at the last claim that need more than this worker's whole capacity.", [], (m, g) => g.set(m.unschedulable));

    // Counts since start, this process.
    counter("jobgraph_jobs_completed_total", "Attempts that completed their job, settled by this process.", (t) => t.completed);
    counter("jobgraph_jobs_failed_total", "Jobs failed for good (no attempt left, a permanent error), settled by this process.", (t) => t.failed);
    counter("jobgraph_jobs_retried_total", "Failed attempts whose job was scheduled to run again, settled by this process.", (t) => t.retried);
    counter("jobgraph_attempts_stuck_total", "Attempts whose handler ignored its aborted signal past the grace, in this process.", (t) => t.stuck);

    // Durations since start, this process.
    histogram("jobgraph_wait_time_seconds", "Enqueue (or runAt) to start of attempts started by this process; _count counts attempts started.", (t) => t.waitSeconds);
    histogram("jobgraph_run_time_seconds", "Start to finish of attempts that finished in this process (not interrupted by shutdown).", (t) => t.runSeconds);
  }

  /** The registry's text exposition and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** One `queue.metrics()` shared by the gauges of one scrape. */
  private snapshot(): Promise<QueueMetrics> {
    if (this.inFlight === undefined) {
      const current = this.queue.metrics();
      this.inFlight = current;
      const clear = () => {
        if (this.inFlight === current) this.inFlight = undefined;
      };
      current.then(clear, clear);
    }
    return this.inFlight;
  }
}
