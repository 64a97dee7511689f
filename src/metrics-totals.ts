/**
 * Upper bounds, in seconds, of the wait and run time histograms: 5 ms to 5 minutes. Fixed so that
 * histograms from every worker share their buckets and can be summed; longer times land in `+Inf`.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]);

/** A duration histogram since start, in seconds. */
export interface HistogramSnapshot {
  /** Observations at or below each bound of `DURATION_BUCKETS_SECONDS` (cumulative, as Prometheus's `le`). */
  readonly buckets: readonly number[];
  /** Sum of the observations, in seconds. */
  readonly sum: number;
  /** Number of observations (the `+Inf` bucket). */
  readonly count: number;
}

/** One job type's counts and duration histograms since start, in this process. */
export interface JobTypeTotals {
  /** Attempts that completed their job. */
  readonly completed: number;
  /** Jobs failed for good (no attempt left, a permanent error, or rescued after their last attempt). */
  readonly failed: number;
  /** Failed attempts whose job was scheduled to run again. */
  readonly retried: number;
  /** Attempts whose handler ignored its aborted signal past the grace. */
  readonly stuck: number;
  /** Enqueue (or runAt) to start, one observation per attempt started. */
  readonly waitSeconds: HistogramSnapshot;
  /** Start to finish of attempts that finished here (not interrupted by shutdown). */
  readonly runSeconds: HistogramSnapshot;
}

/** `queue.metricsSinceStart()`: counts and histograms since the queue was made, by job type. */
export interface MetricsTotals {
  /** The histograms' upper bounds, in seconds. */
  readonly bucketsSeconds: readonly number[];
  readonly byType: Readonly<Record<string, JobTypeTotals>>;
}

/** The outcomes counted since start. */
export type CountedOutcome = "completed" | "failed" | "retried" | "stuck";

/** The slot of `seconds`: the first bound it does not exceed, else the one past the last (a loop: no closure per observation). */
function bucketOf(seconds: number): number {
  for (let i = 0; i < DURATION_BUCKETS_SECONDS.length; i++) if (seconds <= (DURATION_BUCKETS_SECONDS[i] as number)) return i;
  return DURATION_BUCKETS_SECONDS.length;
}

class DurationHistogram {
  /** Per bucket, not cumulative; the last slot is above the largest bound. */
  private readonly counts = new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0);
  private sum = 0;
  private count = 0;

  observe(seconds: number): void {
    const slot = bucketOf(seconds);
    this.counts[slot] = (this.counts[slot] as number) + 1;
    this.sum += seconds;
    this.count += 1;
  }

  snapshot(): HistogramSnapshot {
    let below = 0;
    const buckets = DURATION_BUCKETS_SECONDS.map((_, i) => (below += this.counts[i] as number));
    return { buckets, sum: this.sum, count: this.count };
  }
}

class TypeTotals {
  readonly counts: Record<CountedOutcome, number> = { completed: 0, failed: 0, retried: 0, stuck: 0 };
  readonly wait = new DurationHistogram();
  readonly run = new DurationHistogram();

  snapshot(): JobTypeTotals {
    return { ...this.counts, waitSeconds: this.wait.snapshot(), runSeconds: this.run.snapshot() };
  }
}

/**
 * Counts and duration histograms that only grow, by job type: what Prometheus counters and
 * histograms need (a rate over any range, sums across workers), unlike the sliding window.
 * Job types are bounded by the handlers registered, so the label set stays small.
 */
export class MetricsTotalsRecorder {
  private readonly byType = new Map<string, TypeTotals>();

  recordWait(type: string, seconds: number): void {
    this.of(type).wait.observe(seconds);
  }

  recordRun(type: string, seconds: number): void {
    this.of(type).run.observe(seconds);
  }

  count(type: string, outcome: CountedOutcome): void {
    this.of(type).counts[outcome] += 1;
  }

  /** The totals so far; `types` (the registered handlers) appear with zeros before their first job. */
  snapshot(types: Iterable<string>): MetricsTotals {
    for (const type of types) this.of(type);
    const byType = Object.fromEntries([...this.byType].map(([type, totals]) => [type, totals.snapshot()]));
    return { bucketsSeconds: DURATION_BUCKETS_SECONDS, byType };
  }

  private of(type: string): TypeTotals {
    let totals = this.byType.get(type);
    if (totals === undefined) {
      totals = new TypeTotals();
      this.byType.set(type, totals);
    }
    return totals;
  }
}
