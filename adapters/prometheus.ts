import { Gauge, Registry } from "prom-client";
import type { Queue, QueueMetrics } from "../src/index.js";

/**
 * `queue.metrics()` as Prometheus gauges on `registry`, read on each scrape. One scrape calls
 * `queue.metrics()` once, however many gauges it collects. A registry holds one exporter.
 */
export class PrometheusExporter {
  readonly registry: Registry;
  private inFlight: Promise<QueueMetrics> | undefined;

  constructor(
    private readonly queue: Queue,
    registry?: Registry,
  ) {
    this.registry = registry ?? new Registry();
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
    const exporter = this;
    const quantiles = (pick: (m: QueueMetrics) => QueueMetrics["waitTimeMs"]) => (m: QueueMetrics, g: Gauge) => {
      const p = pick(m);
      g.set({ quantile: "0.5" }, p.p50 / 1_000);
      g.set({ quantile: "0.95" }, p.p95 / 1_000);
      g.set({ quantile: "0.99" }, p.p99 / 1_000);
    };
    gauge("jobgraph_jobs", "Jobs in the store by status (all processes).", ["status"], (m, g) => {
      for (const [status, count] of Object.entries(m.jobs.byStatus)) g.set({ status }, count);
    });
    gauge("jobgraph_queue_length", "Pending jobs by priority (all processes).", ["priority"], (m, g) => {
      for (const [priority, count] of Object.entries(m.jobs.pendingByPriority)) g.set({ priority }, count);
    });
    gauge("jobgraph_wait_time_seconds", "Enqueue (or runAt) to start over the window, this process.", ["quantile"], quantiles((m) => m.waitTimeMs));
    gauge("jobgraph_run_time_seconds", "Attempt run time over the window, this process.", ["quantile"], quantiles((m) => m.runTimeMs));
    gauge("jobgraph_failure_ratio", "Failed attempts over finished attempts in the window, this process.", [], (m, g) => g.set(m.failureRate));
    gauge("jobgraph_throughput_per_second", "Jobs completed per second over the window, this process.", [], (m, g) => g.set(m.throughputPerSecond));
    gauge("jobgraph_running_attempts", "Attempts running in this process.", [], (m, g) => g.set(m.running));
    gauge("jobgraph_concurrency", "Most attempts this process runs at once.", [], (m, g) => g.set(m.concurrency));
    gauge("jobgraph_resource_capacity", "This worker's capacity per resource.", ["resource"], (m, g) => {
      for (const [resource, value] of Object.entries(m.resources.capacity)) g.set({ resource }, value);
    });
    gauge("jobgraph_resource_in_use", "Resources reserved by running attempts in this process.", ["resource"], (m, g) => {
      for (const [resource, value] of Object.entries(m.resources.inUse)) g.set({ resource }, value);
    });
    gauge("jobgraph_unschedulable_jobs", "Runnable jobs seen that need more than this worker's whole capacity.", [], (m, g) => g.set(m.unschedulable));
    gauge("jobgraph_stuck_attempts", "Attempts whose handler ignored its aborted signal past the grace, since start.", [], (m, g) => g.set(m.stuck));
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
