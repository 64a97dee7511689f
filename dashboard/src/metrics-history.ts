import { useEffect, useState } from "preact/hooks";
import { api, type MetricsJson } from "./api-client.js";

/** One poll of `GET /metrics`, with when it was taken (seconds since the epoch, as uPlot wants). */
export interface MetricsSample {
  readonly at: number;
  readonly metrics: MetricsJson;
}

const POLL_MS = 2_000;
const KEEP = 900; // 30 minutes at one poll every 2 s

/**
 * Polls `GET /metrics` while the dashboard is open (from the first view that asks), keeping the
 * last half hour, so the charts have a history whichever page was open before.
 */
class MetricsHistory {
  readonly samples: MetricsSample[] = [];
  error: Error | undefined;
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) void this.poll();
    return () => this.listeners.delete(listener);
  }

  private async poll(): Promise<void> {
    this.timer = setTimeout(() => void this.poll(), POLL_MS);
    try {
      const metrics = await api.metrics();
      this.samples.push({ at: Date.now() / 1_000, metrics });
      if (this.samples.length > KEEP) this.samples.splice(0, this.samples.length - KEEP);
      this.error = undefined;
    } catch (error) {
      this.error = error instanceof Error ? error : new Error(String(error));
    }
    for (const listener of this.listeners) listener();
  }
}

const history = new MetricsHistory();

/** The samples so far, re-rendering on every poll. */
export function useMetricsHistory(): { samples: readonly MetricsSample[]; error: Error | undefined; version: number } {
  const [version, setVersion] = useState(0);
  useEffect(() => history.subscribe(() => setVersion((v) => v + 1)), []);
  return { samples: history.samples, error: history.error, version };
}
