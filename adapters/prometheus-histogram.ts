import type { Metric, Registry } from "prom-client";
import type { HistogramSnapshot } from "../src/index.js";

/** A histogram family as read at scrape time: the upper bounds its series share, and the series by labels. */
export interface HistogramFamily {
  readonly bounds: readonly number[];
  readonly series: readonly { readonly labels: Readonly<Record<string, string>>; readonly histogram: HistogramSnapshot }[];
}

/**
 * Registers a histogram whose buckets the queue already counts, read on each scrape. prom-client's
 * `Histogram` can only observe, and observing again what the queue recorded would count it twice;
 * a registry takes any metric with `get()` (prom-client's own cluster aggregation registers such
 * objects), and the values have the shape `Histogram.get()` gives, so text, JSON and cluster
 * aggregation treat it as one.
 */
export function registerSnapshotHistogram(
  registry: Registry,
  name: string,
  help: string,
  read: () => HistogramFamily,
): void {
  const get = async () => {
    const { bounds, series } = read();
    const values = series.flatMap(({ labels, histogram }) => [
      ...bounds.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: histogram.buckets[i] ?? histogram.count })),
      { metricName: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: histogram.count },
      { metricName: `${name}_sum`, labels, value: histogram.sum },
      { metricName: `${name}_count`, labels, value: histogram.count },
    ]);
    return { name, help, type: "histogram", aggregator: "sum", values };
  };
  registry.registerMetric({ name, help, type: "histogram", aggregator: "sum", get, reset: () => undefined } as unknown as Metric);
}
