import { StorageError } from "../errors.js";
import type { NewSchedule, Storage, StoredSchedule } from "../storage/storage.js";
import { parseCron } from "./cron.js";
import { pendingRun } from "./plan-tick.js";

/**
 * Stores a schedule planned at `now`. Its next run was planned from `now`, but the schedule it
 * replaces may have fired that tick since (another process put the same schedule and its worker
 * was quicker): the next run then moves past the last run, as the ticker would move it, so the
 * answer shows the tick that will really run next.
 */
export async function putSchedule(storage: Pick<Storage, "putSchedule" | "fireSchedule">, schedule: NewSchedule, now: Date): Promise<StoredSchedule> {
  const stored = await storage.putSchedule(schedule);
  const nextRunAt = pendingRun(stored, parseCron(stored.cron, stored.timezone));
  if (nextRunAt === stored.nextRunAt) return stored;
  // The put is stored: a move that fails (the store busy or gone for a moment) is the ticker's to
  // make at its next pass, and the answer shows the tick that will run next all the same.
  const moved = await storage.fireSchedule({ name: stored.name, revision: stored.revision, nextRunAt, tick: undefined, job: undefined, now }).catch((error: unknown) => {
    if (error instanceof StorageError) return undefined;
    throw error;
  });
  if (moved === undefined) return { ...stored, nextRunAt };
  // Lost: a fire or another put came first, and moved the schedule on already.
  return moved.type === "fired" ? moved.schedule : stored;
}
