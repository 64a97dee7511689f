import type postgres from "postgres";
import type { MisfirePolicy } from "../../../types.js";
import type { Db } from "./fragments.js";

// The statements of cron schedules, one function per statement, as tagged templates.

type JsonDoc = postgres.JSONValue;

/** A schedule row as the statements below return it. */
export interface ScheduleRow {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | null;
  readonly type: string;
  readonly payload: postgres.JSONValue;
  readonly options: postgres.JSONValue;
  readonly misfire: MisfirePolicy;
  readonly next_run_at: Date | null;
  readonly last_run_at: Date | null;
  readonly revision: string;
}

/** A schedule to store; payload and options travel in one jsonb document, so a JSON null payload stays JSON. */
export interface ScheduleWrite {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string | null;
  readonly type: string;
  readonly document: { readonly payload: JsonDoc; readonly options: JsonDoc };
  readonly misfire: MisfirePolicy;
  readonly nextRunAt: string | null;
}

const scheduleColumns = (sql: Db) => sql`
  name, cron, timezone, type, payload, options, misfire, next_run_at, last_run_at, revision::text as revision`;

/** The schedules table (a migration). `revision` moves with every change, for the compare-and-set of a fire. */
export const createSchedulesTable = (sql: Db, schema: string) => sql`
  create table ${sql(schema)}.schedules (
    name text primary key,
    cron text not null,
    timezone text,
    type text not null,
    payload jsonb not null,
    options jsonb not null,
    misfire text not null check (misfire in ('run-once', 'skip')),
    next_run_at timestamptz,
    last_run_at timestamptz,
    revision bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`;

/** Stores a schedule, replacing one of the same name: its last run is kept, its revision moves on. */
export const upsertSchedule = (sql: Db, schema: string, s: ScheduleWrite) => sql<ScheduleRow[]>`
  insert into ${sql(schema)}.schedules as s (name, cron, timezone, type, payload, options, misfire, next_run_at)
  select ${s.name}, ${s.cron}, ${s.timezone}, ${s.type}, d->'payload', d->'options', ${s.misfire}, ${s.nextRunAt}::timestamptz
  from (select ${sql.json(s.document as unknown as JsonDoc)}::jsonb as d) doc
  on conflict (name) do update set
    cron = excluded.cron, timezone = excluded.timezone, type = excluded.type, payload = excluded.payload,
    options = excluded.options, misfire = excluded.misfire, next_run_at = excluded.next_run_at,
    revision = s.revision + 1, updated_at = now()
  returning ${scheduleColumns(sql)}`;

export const deleteSchedule = (sql: Db, schema: string, name: string) => sql<{ name: string }[]>`
  delete from ${sql(schema)}.schedules where name = ${name} returning name`;

/** Every schedule, by name in code-point order (as MemoryStorage sorts). */
export const selectSchedules = (sql: Db, schema: string) => sql<ScheduleRow[]>`
  select ${scheduleColumns(sql)} from ${sql(schema)}.schedules order by name collate "C"`;

/**
 * The compare-and-set of a fire: moves the schedule at `revision` to its next run (and its last run
 * to `tick`, when given). Concurrent fires wait on the row lock; once the first commits, the others
 * find the revision moved and update nothing.
 */
export const advanceSchedule = (sql: Db, schema: string, name: string, revision: number, nextRunAt: string | null, tick: string | null) => sql<ScheduleRow[]>`
  update ${sql(schema)}.schedules
  set next_run_at = ${nextRunAt}::timestamptz, last_run_at = coalesce(${tick}::timestamptz, last_run_at), revision = revision + 1, updated_at = now()
  where name = ${name} and revision = ${revision}
  returning ${scheduleColumns(sql)}`;
