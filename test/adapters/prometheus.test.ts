import { AggregatorRegistry, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { PrometheusExporter } from "../../adapters/prometheus.js";
import { PermanentError, Queue } from "../../src/index.js";
import { checkConventions, parseExposition, PROMETHEUS_FAMILIES, valueOf, type Family } from "./prometheus-text.js";

const open: Queue[] = [];
afterEach(async () => {
  for (const queue of open.splice(0)) await queue.shutdown();
});

/** A worker with an exporter on its own registry that has run `ok` jobs and `bad` jobs (which fail for good). */
async function workerThatRan(ok: number, bad: number, registry = new Registry()): Promise<PrometheusExporter> {
  const queue = new Queue({ pollIntervalMs: 20, logger: false });
  open.push(queue);
  queue.defineHandler("ok", { run: async () => null });
  queue.defineHandler("bad", { run: async () => Promise.reject(new PermanentError("no")) });
  const exporter = new PrometheusExporter(queue, registry);
  // The events follow the counts; a final status is readable in the store a moment before.
  let left = ok + bad;
  let allFinished!: () => void;
  const finished = new Promise<void>((resolve) => (allFinished = resolve));
  const onFinished = () => void (--left === 0 && allFinished());
  queue.on("job:completed", onFinished);
  queue.on("job:failed", onFinished);
  await queue.start();
  for (let i = 0; i < ok; i++) await queue.enqueue("ok", {});
  for (let i = 0; i < bad; i++) await queue.enqueue("bad", {});
  if (ok + bad > 0) await finished;
  return exporter;
}

describe("Prometheus exporter", () => {
  it("gives prom-client counters, histograms and gauges, each of the type its values call for", async () => {
    const { registry } = await workerThatRan(2, 1);
    const types = Object.fromEntries((await registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
    expect(types).toEqual(PROMETHEUS_FAMILIES);
    expect(Object.values(types).every((t) => ["counter", "gauge", "histogram"].includes(t))).toBe(true);
    const text = parseExposition(await registry.metrics());
    checkConventions(text);
    expect(valueOf(text, "jobgraph_jobs_completed_total", "jobgraph_jobs_completed_total", { type: "ok" })).toBe(2);
    expect(valueOf(text, "jobgraph_jobs_failed_total", "jobgraph_jobs_failed_total", { type: "bad" })).toBe(1);
  });

  it("sums across workers: prom-client's cluster aggregation adds counters and histogram buckets", async () => {
    const read = async ({ registry }: PrometheusExporter) => ({ json: await registry.getMetricsAsJSON(), text: parseExposition(await registry.metrics()) });
    const first = await read(await workerThatRan(2, 1));
    const second = await read(await workerThatRan(3, 0));
    const merged = AggregatorRegistry.aggregate([first.json, second.json]);
    const sum = parseExposition(await merged.metrics());
    checkConventions(sum);
    expect(valueOf(sum, "jobgraph_jobs_completed_total", "jobgraph_jobs_completed_total", { type: "ok" })).toBe(5);
    expect(valueOf(sum, "jobgraph_jobs_failed_total", "jobgraph_jobs_failed_total", { type: "bad" })).toBe(1);
    expect(valueOf(sum, "jobgraph_run_time_seconds", "jobgraph_run_time_seconds_count", { type: "ok" })).toBe(5);
    for (const le of ["0.005", "0.1", "1", "300", "+Inf"]) {
      const bucket = (families: Map<string, Family>) => valueOf(families, "jobgraph_wait_time_seconds", "jobgraph_wait_time_seconds_bucket", { type: "ok", le }) ?? NaN;
      expect(bucket(sum)).toBe(bucket(first.text) + bucket(second.text));
    }
  });
});
