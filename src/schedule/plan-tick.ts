import type { MisfirePolicy } from "../types.js";
import type { CronTicks } from "./cron.js";

/** What a worker does about a schedule now. */
export type TickPlan =
  /** Nothing due: look again at `at` (undefined: the expression has no tick left). */
  | { readonly type: "wait"; readonly at: Date | undefined }
  /** Enqueue the job of `tick`, and move the schedule's next run to `nextRunAt`. */
  | { readonly type: "fire"; readonly tick: Date; readonly nextRunAt: Date | undefined }
  /** Missed ticks dropped (misfire "skip"): move the next run to `nextRunAt`, enqueue nothing. */
  | { readonly type: "skip"; readonly nextRunAt: Date | undefined };

/**
 * How late a tick may be and still count as late rather than missed: three poll intervals, and at
 * least 10 s, so a busy or briefly paused worker catches up tick by tick, while ticks that passed
 * while no worker ran (a deploy, an outage) fall under the misfire policy.
 */
export function misfireGraceMs(pollIntervalMs: number): number {
  return Math.max(3 * pollIntervalMs, 10_000);
}

/**
 * Decides the next step of a schedule whose next run is `nextRunAt`, at `now`. A due tick no older
 * than `graceMs` is late: it fires on its own, and the next tick follows. Ticks older than that
 * are missed: "run-once" fires one job for all of them, as the newest missed tick; "skip" drops them.
 * Either way the next run becomes the first tick after the newest missed one, so a worker coming
 * back after a long pause never enqueues a burst.
 */
export function planTick(schedule: { readonly nextRunAt: Date | undefined; readonly misfire: MisfirePolicy }, ticks: CronTicks, now: Date, graceMs: number): TickPlan {
  const { nextRunAt } = schedule;
  if (nextRunAt === undefined || nextRunAt > now) return { type: "wait", at: nextRunAt };
  const cutoff = new Date(now.getTime() - graceMs);
  if (nextRunAt >= cutoff) return { type: "fire", tick: nextRunAt, nextRunAt: ticks.after(nextRunAt) };
  const before = ticks.before(cutoff);
  const newestMissed = before === undefined || before < nextRunAt ? nextRunAt : before;
  const following = ticks.after(newestMissed);
  return schedule.misfire === "run-once"
    ? { type: "fire", tick: newestMissed, nextRunAt: following }
    : { type: "skip", nextRunAt: following };
}
