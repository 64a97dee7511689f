import type { Clock, TimerHandle } from "../clock.js";
import type { InsertedJob, Storage, StoredSchedule } from "../storage/storage.js";
import type { NewJob } from "../types.js";
import { parseCron, type CronTicks } from "./cron.js";
import { misfireGraceMs, planTick } from "./plan-tick.js";

/** What the ticker needs from the worker that owns it. */
export interface TickerDeps {
  readonly storage: Pick<Storage, "listSchedules" | "fireSchedule">;
  readonly clock: Clock;
  readonly pollIntervalMs: number;
  /** The job of one tick, validated as `enqueue` validates; throws a `ValidationError` when it cannot be built. */
  buildJob(schedule: StoredSchedule, tick: Date): Promise<NewJob>;
  /** A tick's job was stored (or an existing one of its key found). */
  onFired(job: InsertedJob): void;
  reportError(error: unknown, context: string): void;
}

/** Ticks fired for one schedule in one pass at most; the next pass, at once, goes on. */
export const MAX_FIRES_PER_PASS = 100;

/**
 * Fires the due ticks of every stored schedule, in every started queue: it reads the schedules,
 * fires what `planTick` says (each tick a compare-and-set in the store, so of N workers one
 * enqueues it), and sleeps until the earliest next run, at most `pollIntervalMs`, so a schedule
 * added by another process is seen within a poll interval. Never two passes at once.
 */
export class ScheduleTicker {
  private timer: TimerHandle | undefined;
  private active = false;
  private inPass = false;
  private wakeRequested = false;
  /** What the last pass failed with (its code, else its message), while passes keep failing. */
  private failing: string | undefined;
  private pass: Promise<void> = Promise.resolve();
  private readonly ticksByExpression = new Map<string, CronTicks>();
  private readonly graceMs: number;

  constructor(private readonly deps: TickerDeps) {
    this.graceMs = misfireGraceMs(deps.pollIntervalMs);
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.arm(0);
  }

  /** Stops sleeping and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.active = false;
    this.timer?.cancel();
    await this.pass;
  }

  /** Looks at the schedules now (one was just added or replaced), or right after the pass in progress. */
  wake(): void {
    if (!this.active) return;
    if (this.inPass) this.wakeRequested = true;
    else this.arm(0);
  }

  private arm(ms: number): void {
    this.timer?.cancel();
    this.timer = this.deps.clock.setTimer(() => {
      this.inPass = true;
      this.wakeRequested = false;
      this.pass = this.fireDue()
        .then((delay) => {
          this.failing = undefined;
          return delay;
        })
        .catch((error: unknown) => {
          this.reportPassFailure(error);
          return this.deps.pollIntervalMs;
        })
        .then((delay) => {
          this.inPass = false;
          if (this.active) this.arm(this.wakeRequested ? 0 : delay);
        });
    }, ms);
  }

  /**
   * Reports a pass that could not read the schedules, but not the same failure again pass after
   * pass: a store not yet migrated for schedules (a rolling upgrade) would log every poll interval.
   */
  private reportPassFailure(error: unknown): void {
    const code = (error as { code?: unknown } | undefined)?.code;
    const key = typeof code === "string" ? code : error instanceof Error ? error.message : String(error);
    if (key !== this.failing) this.deps.reportError(error, "schedules");
    this.failing = key;
  }

  /** One pass over every schedule; answers how long to sleep. */
  private async fireDue(): Promise<number> {
    const { storage, clock, pollIntervalMs } = this.deps;
    const schedules = await storage.listSchedules();
    let wakeAt = clock.now() + pollIntervalMs;
    for (const schedule of schedules) {
      if (!this.active) break;
      try {
        const due = await this.catchUp(schedule);
        if (due !== undefined) wakeAt = Math.min(wakeAt, due.getTime());
      } catch (error) {
        this.deps.reportError(error, `schedule ${schedule.name}`);
      }
    }
    return Math.max(0, wakeAt - clock.now());
  }

  /** Fires what is due of one schedule; answers when it is due next, when known. */
  private async catchUp(schedule: StoredSchedule): Promise<Date | undefined> {
    const { storage, clock } = this.deps;
    const ticks = this.ticksOf(schedule);
    let current = schedule;
    for (let fired = 0; fired < MAX_FIRES_PER_PASS && this.active; fired++) {
      const now = new Date(clock.now());
      const plan = planTick(current, ticks, now, this.graceMs);
      if (plan.type === "wait") return plan.at;
      const tick = plan.type === "fire" ? plan.tick : undefined;
      const job = tick === undefined ? undefined : await this.jobFor(current, tick);
      const result = await storage.fireSchedule({
        name: current.name, revision: current.revision, nextRunAt: plan.nextRunAt, tick: job === undefined ? undefined : tick, job, now,
      });
      // Another worker fired it, or it was replaced or deleted (or its tick fired already): the next pass reads it again.
      if (result.type === "lost") return undefined;
      if (result.job !== undefined) this.deps.onFired(result.job);
      current = result.schedule;
    }
    return new Date(clock.now());
  }

  /** The tick's job; one that cannot be built (a payload this worker's handler refuses) is reported and the tick passed over. */
  private async jobFor(schedule: StoredSchedule, tick: Date): Promise<NewJob | undefined> {
    try {
      return await this.deps.buildJob(schedule, tick);
    } catch (error) {
      this.deps.reportError(error, `schedule ${schedule.name}: tick ${tick.toISOString()}`);
      return undefined;
    }
  }

  private ticksOf(schedule: StoredSchedule): CronTicks {
    const key = `${schedule.cron}\u0000${schedule.timezone ?? ""}`;
    let ticks = this.ticksByExpression.get(key);
    if (ticks === undefined) {
      if (this.ticksByExpression.size >= 1_000) this.ticksByExpression.clear();
      ticks = parseCron(schedule.cron, schedule.timezone);
      this.ticksByExpression.set(key, ticks);
    }
    return ticks;
  }
}
