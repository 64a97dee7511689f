import type { ResolvedQueueOptions, ResolvedRetention } from "../options.js";
import type { Storage } from "../storage/storage.js";
import { PeriodicTask } from "./periodic-task.js";

/** What the pruner needs from the queue that owns it. */
export interface PrunerDeps {
  readonly storage: Storage;
  readonly clock: ResolvedQueueOptions["clock"];
  readonly retention: ResolvedRetention;
  reportError(error: unknown, context: string): void;
}

/** Jobs deleted per storage call. */
export const PRUNE_BATCH = 1_000;
/** Calls per pass at most, so one pass after a long pause cannot hold the store for long; the next pass goes on. */
export const PRUNE_BATCHES_PER_PASS = 100;

/**
 * Deletes finished jobs once they are older than the queue's retention, every `intervalMs`, so
 * the tables stay bounded. Several queues on one store may prune at once: the store skips rows
 * another deletion holds.
 */
export class Pruner {
  private readonly task: PeriodicTask;

  constructor(private readonly deps: PrunerDeps) {
    this.task = new PeriodicTask(deps.clock, deps.retention.intervalMs, () => this.pruneFinishedJobs(), (error) => deps.reportError(error, "retention"));
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** One pass: deletes in batches until a batch comes back short; answers how many jobs it deleted. */
  async pruneFinishedJobs(): Promise<number> {
    const { storage, clock, retention } = this.deps;
    const now = clock.now();
    const request = {
      completedBefore: new Date(now - retention.completedMs),
      failedBefore: new Date(now - retention.failedMs),
      cancelledBefore: new Date(now - retention.cancelledMs),
      limit: PRUNE_BATCH,
    };
    let deleted = 0;
    for (let batch = 0; batch < PRUNE_BATCHES_PER_PASS && this.task.running; batch++) {
      const count = await storage.deleteFinishedJobs(request);
      deleted += count;
      if (count < PRUNE_BATCH) break;
    }
    return deleted;
  }
}
