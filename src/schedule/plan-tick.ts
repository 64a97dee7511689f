import { assertNever } from "../assert-never.js";
import type { MisfirePolicy } from "../types.js";
import type { CronTicks } from "./cron.js";

/** What a worker does about a schedule now. */
export type TickPlan =
  /** Nothing due: look again at `at` (undefined: the expression has no tick left). */
  | { readonly type: "wait"; readonly at: Date | undefined }
  /** Enqueue the job of `tick`, and move the schedule's next run to `nextRunAt`. */
  | { readonly type: "fire"; readonly tick: Date; readonly nextRunAt: Date | undefined }
  /** Missed ticks dropped (misfire "skip"): move the next run to `nextRunAt`, enqueue nothing. */
  | { readonly type: "skip"; readonly nextRunAt: Date | undefined }
  /** The stored next run already fired (see `pendingRun`): move it to `nextRunAt`, not yet due, and enqueue nothing. */
  | { readonly type: "move"; readonly nextRunAt: Date | undefined };

/** What planning a schedule's ticks reads of it. */
export interface TickState {
  readonly nextRunAt: Date | undefined;
  readonly lastRunAt?: Date | undefined;
  readonly misfire: MisfirePolicy;
}

/**
 * How late a tick may be and still count as late rather than missed: three poll intervals, and at
 * least 10 s, so a busy or briefly paused worker catches up tick by tick, while ticks that passed
 * while no worker ran (a deploy, an outage) fall under the misfire policy, all together.
 */
export function misfireGraceMs(pollIntervalMs: number): number {
  return Math.max(3 * pollIntervalMs, 10_000);
}

/**
 * The tick a schedule waits for: its next run, unless that is at or before its last run, when it
 * is the first tick after the last run. A put planned before a tick (two processes declaring the
 * same schedule at boot) can land after the tick fired and set the next run back to it; that tick
 * must not fire again, as its job may be gone from under its idempotency key.
 */
export function pendingRun(schedule: Omit<TickState, "misfire">, ticks: CronTicks): Date | undefined {
  const { nextRunAt, lastRunAt } = schedule;
  if (nextRunAt === undefined || lastRunAt === undefined || nextRunAt > lastRunAt) return nextRunAt;
  return ticks.after(lastRunAt);
}

/**
 * Decides the next step of a schedule whose next run (as `pendingRun` reads it) is `nextRunAt`, at
 * `now`. When that tick is no older than `graceMs` it is late, not missed: it fires on its own and the tick after it comes next,
 * so a busy worker catches up tick by tick. When it is older, the schedule was left without a
 * worker, and every tick up to `now` is settled at once: "run-once" fires one job for all of them,
 * as the newest; "skip" drops them, but still fires the newest if it is itself within the grace.
 * Either way the next run is the first tick after `now`: never a burst.
 */
export function planTick(schedule: TickState, ticks: CronTicks, now: Date, graceMs: number): TickPlan {
  const nextRunAt = pendingRun(schedule, ticks);
  if (nextRunAt === undefined || nextRunAt > now) {
    // A next run that already fired is moved in the store too, so that listings show the real one.
    return nextRunAt === schedule.nextRunAt ? { type: "wait", at: nextRunAt } : { type: "move", nextRunAt };
  }
  const cutoff = new Date(now.getTime() - graceMs);
  if (nextRunAt >= cutoff) return { type: "fire", tick: nextRunAt, nextRunAt: ticks.after(nextRunAt) };
  const before = ticks.before(new Date(now.getTime() + 1));
  const newest = before === undefined || before < nextRunAt || before > now ? nextRunAt : before;
  const following = ticks.after(newest);
  switch (schedule.misfire) {
    case "run-once":
      return { type: "fire", tick: newest, nextRunAt: following };
    case "skip":
      return newest >= cutoff ? { type: "fire", tick: newest, nextRunAt: following } : { type: "skip", nextRunAt: following };
    default:
      return assertNever(schedule.misfire);
  }
}
