import type { ScheduleRecord } from "../types.js";
import type { NewSchedule, StoredSchedule } from "./storage.js";
import { toJson } from "./to-json.js";

/** MemoryStorage's schedules: records by name, each with the revision that a fire compares and sets. */
export class ScheduleTable {
  private readonly byName = new Map<string, StoredSchedule>();
  /** One counter for the table, as PostgreSQL's sequence: a schedule created again after a delete starts past its old revisions. */
  private lastRevision = 0;

  /**
   * Stores a copy under its name; a replaced schedule's `lastRunAt` is kept and its revision moves
   * on. A replacement with the same timing (cron and time zone) keeps an earlier next run: a tick
   * due and not yet fired still fires (as PostgreSQL's `upsertSchedule`).
   */
  put(schedule: NewSchedule): StoredSchedule {
    const previous = this.byName.get(schedule.name);
    const keepsNextRun =
      previous?.nextRunAt !== undefined && schedule.nextRunAt !== undefined && sameTiming(previous, schedule) && previous.nextRunAt < schedule.nextRunAt;
    const nextRunAt = keepsNextRun ? previous.nextRunAt : schedule.nextRunAt;
    const stored = copy({ ...schedule, nextRunAt, lastRunAt: previous?.lastRunAt, revision: ++this.lastRevision });
    this.byName.set(stored.name, stored);
    return copy(stored);
  }

  delete(name: string): boolean {
    return this.byName.delete(name);
  }

  /** By name in code-point order, as PostgreSQL's `collate "C"` on UTF-8 sorts them (UTF-16 units sort otherwise above U+FFFF). */
  list(): StoredSchedule[] {
    return [...this.byName.values()].sort((a, b) => Buffer.compare(Buffer.from(a.name, "utf8"), Buffer.from(b.name, "utf8"))).map(copy);
  }

  /**
   * The schedule if it is still at `revision` and `tick` (when given) is after its last run, else
   * undefined: a put planned before a tick fired may have moved the next run back to that tick.
   */
  at(name: string, revision: number, tick: Date | undefined): StoredSchedule | undefined {
    const schedule = this.byName.get(name);
    if (schedule?.revision !== revision) return undefined;
    if (tick !== undefined && schedule.lastRunAt !== undefined && tick <= schedule.lastRunAt) return undefined;
    return schedule;
  }

  /** Moves a schedule (at `revision`, checked by `at`) to its next run. */
  advance(schedule: StoredSchedule, nextRunAt: Date | undefined, tick: Date | undefined): StoredSchedule {
    const moved = copy({ ...schedule, nextRunAt, lastRunAt: tick ?? schedule.lastRunAt, revision: ++this.lastRevision });
    this.byName.set(moved.name, moved);
    return copy(moved);
  }
}

/** Whether two schedules tick at the same times. */
function sameTiming(a: Pick<NewSchedule, "cron" | "timezone">, b: Pick<NewSchedule, "cron" | "timezone">): boolean {
  return a.cron === b.cron && a.timezone === b.timezone;
}

/** A copy sharing nothing with its source, as PostgreSQL would hand it back. */
function copy(schedule: ScheduleRecord & { readonly revision: number }): StoredSchedule {
  const date = (d: Date | undefined) => (d === undefined ? undefined : new Date(d));
  return {
    ...schedule,
    payload: toJson(schedule.payload),
    options: toJson(schedule.options) as StoredSchedule["options"],
    nextRunAt: date(schedule.nextRunAt),
    lastRunAt: date(schedule.lastRunAt),
  };
}
