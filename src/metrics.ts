import type { Clock } from "./clock.js";
import { MetricsTotalsRecorder, type CountedOutcome, type MetricsTotals } from "./metrics-totals.js";
import { SampleWindow } from "./sample-window.js";
import type { JobCounts } from "./storage/storage.js";
import type { Resources } from "./types.js";

/** Percentiles over the sliding window. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/** `queue.metrics()`. Counts are the store's (all processes); timings and rates are this process's. */
export interface QueueMetrics {
  readonly jobs: JobCounts;
  /** Enqueue (or runAt) to start, over the window, in ms. */
  readonly waitTimeMs: Percentiles;
  /** Start to finish of attempts, over the window, in ms. */
  readonly runTimeMs: Percentiles;
  /** Failed attempts (retried or not) over finished attempts in the window, 0..1. */
  readonly failureRate: number;
  /** Jobs completed per second over the window. */
  readonly throughputPerSecond: number;
  readonly windowMs: number;
  readonly running: number;
  readonly concurrency: number;
  readonly resources: { readonly capacity: Resources; readonly inUse: Resources };
  /** Runnable jobs seen that need more than this worker's whole capacity. */
  readonly unschedulable: number;
  /** Attempts whose handler ignored its aborted signal past the grace. */
  readonly stuck: number;
}

/**
 * Keeps recent wait and run times and attempt outcomes in bounded sliding windows (for
 * `queue.metrics()`), and the same since start by job type (for `queue.metricsSinceStart()`).
 */
export class MetricsRecorder {
  private readonly waits: SampleWindow;
  private readonly runs: SampleWindow;
  /** 1 for a failed attempt, 0 for one that succeeded. */
  private readonly finishes: SampleWindow;
  private readonly totals = new MetricsTotalsRecorder();

  constructor(
    private readonly clock: Clock,
    readonly windowMs = 60_000,
    maxSamples = 4_096,
  ) {
    this.waits = new SampleWindow(maxSamples);
    this.runs = new SampleWindow(maxSamples);
    this.finishes = new SampleWindow(maxSamples);
  }

  recordStart(type: string, waitMs: number): void {
    const value = Math.max(0, waitMs);
    this.waits.add(this.clock.now(), value);
    this.totals.recordWait(type, value / 1_000);
  }

  /** Attempts whose handler ignored its aborted signal past the grace, ever. */
  stuck = 0;

  recordStuck(type: string): void {
    this.stuck += 1;
    this.totals.count(type, "stuck");
  }

  /** An attempt that ran here finished (any outcome but an interruption by shutdown). */
  recordFinish(type: string, runMs: number, failed: boolean): void {
    const at = this.clock.now();
    const value = Math.max(0, runMs);
    this.runs.add(at, value);
    this.totals.recordRun(type, value / 1_000);
    this.finishes.add(at, failed ? 1 : 0);
  }

  /** A stored outcome, whether the attempt ran here or was rescued here after its worker went away. */
  recordOutcome(type: string, outcome: Exclude<CountedOutcome, "stuck">): void {
    this.totals.count(type, outcome);
  }

  /** Counts and histograms since start; `types` appear with zeros before their first job. */
  sinceStart(types: Iterable<string>): MetricsTotals {
    return this.totals.snapshot(types);
  }

  waitTimes(): Percentiles {
    return percentiles(this.recent(this.waits));
  }

  runTimes(): Percentiles {
    return percentiles(this.recent(this.runs));
  }

  failureRate(): number {
    const recent = this.recent(this.finishes);
    return recent.length === 0 ? 0 : recent.filter((failed) => failed === 1).length / recent.length;
  }

  throughputPerSecond(): number {
    const completed = this.recent(this.finishes).filter((failed) => failed === 0).length;
    return completed / (this.windowMs / 1_000);
  }

  private recent(window: SampleWindow): number[] {
    return window.valuesSince(this.clock.now() - this.windowMs);
  }
}

/** Nearest-rank percentiles; zeros when there are no samples. */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: 0, p95: 0, p99: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99) };
}
