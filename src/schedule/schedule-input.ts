import { z } from "zod";
import { ValidationError } from "../errors.js";
import { storableText } from "../json-value.js";
import { jobTypeSchema, parseOrThrow, scheduleJobOptionsSchema } from "../options.js";
import type { NewSchedule, StoredSchedule } from "../storage/storage.js";
import { assertCronExpression, canonicalTimeZone, parseCron } from "./cron.js";
import type { JobRequest } from "../submission.js";
import { MISFIRE_POLICIES, type ScheduleJobOptions, type ScheduleRecord } from "../types.js";

/** No control characters (they would garble logs, listings and terminals), nothing PostgreSQL cannot store. */
const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((text) => !/\p{Cc}/u.test(text), "must not contain control characters")
    .refine(storableText, "must not contain a lone surrogate");

/** A schedule's name: its key, and part of its jobs' idempotency keys (`schedule:<name>:<tick>`, at most 255 characters). */
export const scheduleNameSchema = printable(200);

/** `queue.schedule(name, input)`'s second argument. */
export const scheduleInputSchema = z
  .object({
    cron: printable(200),
    timezone: printable(100).optional(),
    type: jobTypeSchema,
    payload: z.unknown().optional(),
    options: scheduleJobOptionsSchema.default({}),
    misfire: z.enum(MISFIRE_POLICIES).default("run-once"),
  })
  .strict();
export type ScheduleInput = z.input<typeof scheduleInputSchema>;

/** The idempotency key of a schedule's job for one tick. */
export function scheduleJobKey(name: string, tick: Date): string {
  return `schedule:${name}:${tick.toISOString()}`;
}

/** What a schedule's jobs are made of. */
export interface ScheduledJobSource {
  readonly name: string;
  readonly type: string;
  readonly payload: unknown;
  readonly options: ScheduleJobOptions;
}

/** The request of a schedule's job for one tick: its type, payload and options, and the tick's idempotency key. */
export function scheduledJobRequest(schedule: ScheduledJobSource, tick: Date): JobRequest {
  return { ...schedule.options, key: "job", type: schedule.type, payload: schedule.payload, dependsOn: [], idempotencyKey: scheduleJobKey(schedule.name, tick) };
}

/** A schedule parsed and its first tick planned; the payload is checked by building a tick's job. */
export type PlannedSchedule = Omit<NewSchedule, "payload" | "nextRunAt"> & { readonly payload: unknown; readonly nextRunAt: Date };

/**
 * Parses `queue.schedule(name, input)`: the name, the input, the cron expression in its time zone
 * (kept by its canonical name), and the first tick after `now`. An expression without one (`0 0 30 2 *`) is refused.
 */
export function planSchedule(name: unknown, input: unknown, now: Date): PlannedSchedule {
  const scheduleName = parseOrThrow(scheduleNameSchema, name, "schedule name");
  const parsed = parseOrThrow(scheduleInputSchema, input, "schedule");
  // Stored as Intl spells it: `europe/berlin` is listed as `Europe/Berlin`.
  const timezone = parsed.timezone === undefined ? undefined : canonicalTimeZone(parsed.timezone);
  assertCronExpression(parsed.cron);
  const nextRunAt = parseCron(parsed.cron, timezone).after(now);
  if (nextRunAt === undefined) throw new ValidationError(`cron expression ${JSON.stringify(parsed.cron)} never fires`, [{ path: "cron", message: "has no future tick" }]);
  return { ...parsed, timezone, payload: parsed.payload, name: scheduleName, nextRunAt };
}

/** A stored schedule as `listSchedules` answers it: without the store's revision. */
export function toScheduleRecord({ revision: _revision, ...schedule }: StoredSchedule): ScheduleRecord {
  return schedule;
}
