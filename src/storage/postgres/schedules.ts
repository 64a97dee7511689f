import type { Json, ScheduleJobOptions } from "../../types.js";
import type { FireScheduleRequest, FireScheduleResult, NewSchedule, StoredSchedule } from "../storage.js";
import type { Done } from "./change-set.js";
import { insertIn, plannedAgainOnRace } from "./insert.js";
import type { Db } from "./sql/fragments.js";
import * as s from "./sql/schedules.js";
import type { StoreContext } from "./store-context.js";
import type { Notice } from "./sql/notify.js";

/** Stores a schedule (replacing one of its name); answers it as stored. */
async function upsertSchedule(sql: Db, schema: string, schedule: NewSchedule): Promise<StoredSchedule> {
  const [row] = await s.upsertSchedule(sql, schema, {
    name: schedule.name,
    cron: schedule.cron,
    timezone: schedule.timezone ?? null,
    type: schedule.type,
    document: { payload: schedule.payload as s.ScheduleRow["payload"], options: schedule.options as s.ScheduleRow["options"] },
    misfire: schedule.misfire,
    nextRunAt: schedule.nextRunAt?.toISOString() ?? null,
  });
  if (row === undefined) throw new Error(`schedule ${schedule.name} vanished during its upsert`);
  return toSchedule(row);
}

/**
 * Fires one tick inside a transaction: the compare-and-set on the schedule's revision, then the
 * tick's job through the store's one insert path, so both commit or neither does.
 */
async function fireScheduleIn(sql: Db, schema: string, notice: Notice, request: FireScheduleRequest): Promise<Done<FireScheduleResult>> {
  const iso = (date: Date | undefined) => date?.toISOString() ?? null;
  const [row] = await s.advanceSchedule(sql, schema, request.name, request.revision, iso(request.nextRunAt), iso(request.tick));
  if (row === undefined) return { value: { type: "lost" }, changes: [] };
  const schedule = toSchedule(row);
  if (request.job === undefined) return { value: { type: "fired", schedule, job: undefined }, changes: [] };
  const inserted = await insertIn(sql, schema, notice, { jobs: [request.job], onDuplicate: "return-existing", now: request.now });
  return { value: { type: "fired", schedule, job: inserted.value.jobs[0] }, changes: inserted.changes };
}

/** `PostgresStorage.putSchedule`. */
export async function putSchedule(store: StoreContext, schedule: NewSchedule): Promise<StoredSchedule> {
  // In a transaction of the store's: a fire holding the schedule's row is waited for within the lock wait, not the call deadline.
  return store.guard((sql) => store.transaction(sql, (t) => upsertSchedule(t, store.schema, schedule)), "put schedule");
}

/** `PostgresStorage.deleteSchedule`: whether there was one of that name. */
export async function deleteSchedule(store: StoreContext, name: string): Promise<boolean> {
  const rows = await store.guard((sql) => store.transaction(sql, (t) => s.deleteSchedule(t, store.schema, name)), "delete schedule");
  return rows.length > 0;
}

/** `PostgresStorage.listSchedules`, by name. */
export async function listSchedules(store: StoreContext): Promise<readonly StoredSchedule[]> {
  const rows = await store.guard((sql) => s.selectSchedules(sql, store.schema), "list schedules");
  return rows.map(toSchedule);
}

/** `PostgresStorage.fireSchedule`: one tick, in a transaction of its own. */
export async function fireSchedule(store: StoreContext, request: FireScheduleRequest): Promise<FireScheduleResult> {
  // As in insertJobs: a concurrent insert may take the tick's key between the plan and the insert.
  const notice = store.nextNotice();
  return plannedAgainOnRace("fire schedule", async () => {
    const done = await store.guard((sql) => store.transaction(sql, (t) => fireScheduleIn(t, store.schema, notice, request)), "fire schedule");
    store.publish(done.changes, notice);
    return done.value;
  });
}

function toSchedule(row: s.ScheduleRow): StoredSchedule {
  return {
    name: row.name,
    cron: row.cron,
    timezone: row.timezone ?? undefined,
    type: row.type,
    payload: row.payload as Json,
    options: row.options as ScheduleJobOptions,
    misfire: row.misfire,
    nextRunAt: row.next_run_at ?? undefined,
    lastRunAt: row.last_run_at ?? undefined,
    revision: Number(row.revision),
  };
}
