import type { ResolvedQueueOptions } from "../options.js";
import type { Settlement, SettleResult, Storage } from "../storage/storage.js";
import { rescueOutcome } from "./outcome.js";
import { PeriodicTask } from "./periodic-task.js";

/** What the rescuer needs from the queue that owns it. */
export interface RescuerDeps {
  readonly storage: Storage;
  readonly options: ResolvedQueueOptions;
  reportSettled(settlement: Settlement, result: SettleResult): Promise<void>;
  reportError(error: unknown, context: string): void;
}

/**
 * Finds attempts whose lease expired (their worker crashed, hung or lost its connection) and
 * settles them: pending again in their old place in line while attempts remain, failed after. Each settle is a CAS on
 * the expired lease, so a worker finishing at the same moment wins or loses cleanly, never both.
 */
export class Rescuer {
  private readonly task: PeriodicTask;

  constructor(private readonly deps: RescuerDeps) {
    const { clock, rescueIntervalMs } = deps.options;
    this.task = new PeriodicTask(clock, rescueIntervalMs, () => this.rescueExpiredLeases(), (error) => deps.reportError(error, "rescue"));
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** One rescue pass; answers how many attempts it settled. */
  async rescueExpiredLeases(batchSize = 100): Promise<number> {
    const { storage, options } = this.deps;
    const now = options.clock.now();
    const expired = await storage.findExpiredLeases(new Date(now), batchSize);
    if (expired.length === 0) return 0;
    const settlements: Settlement[] = expired.map(({ job, lease }) => ({
      lease,
      outcome: rescueOutcome(job, lease.attempt),
      job,
      // A worker that renews the lease before this settle runs keeps the job.
      onlyIfExpired: true,
    }));
    const results = await storage.settle(settlements, new Date(now));
    let settled = 0;
    for (const [i, result] of results.entries()) {
      if (result.type !== "settled") continue;
      settled += 1;
      await this.deps.reportSettled(settlements[i] as Settlement, result);
    }
    return settled;
  }
}
