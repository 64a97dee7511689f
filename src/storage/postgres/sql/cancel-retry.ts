import type { ErrorInfo, JobStatus } from "../../../types.js";
import type { JobRow } from "../rows.js";
import { dependentsStep, jobColumns, statementTime, uuidList, type ChangeRow, type Db, type JsonDoc } from "./fragments.js";
import { transitionAppended } from "./history.js";

// The statements of a user's cancel and retry: locks, cancels, cancel requests, the restart of a
// job and the revival of the dependents that its failure cancelled.

/** Locks the jobs to cancel or retry and reads their status. */
export const lockJobsForChange = (sql: Db, schema: string, ids: readonly string[]) =>
  sql<{ id: string; type: string; status: JobStatus; attempt: number; idempotency_key: string | null; cancel_cause: string | null; depends_on: string[] }[]>`
  select j.id::text as id, j.type, j.status, j.attempt, j.idempotency_key, j.cancel_cause::text as cancel_cause,
    to_jsonb(array(select d.depends_on_id::text from ${sql(schema)}.job_dependencies d where d.job_id = j.id order by d.position)) as depends_on
  from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)})
  order by j.id
  for no key update`;

/** Cancels blocked or pending jobs (a user's cancel: no error). */
export const cancelWaiting = (sql: Db, schema: string, ids: readonly string[]) => sql<ChangeRow[]>`
  update ${sql(schema)}.jobs j set status = 'cancelled', finished_at = ${statementTime(sql)}, updated_at = ${statementTime(sql)}, cancel_cause = null,
    ${transitionAppended(sql, { from: sql`j.status`, to: sql`'cancelled'::text`, attempt: sql`j.attempt`, at: statementTime(sql) })}
  from (select j0.id, j0.status from ${sql(schema)}.jobs j0 where j0.id = any(array${uuidList(sql, ids)})) as o
  where j.id = o.id and j.status in ('blocked', 'pending')
  returning j.id::text as id, j.type, j.status, j.attempt, o.status as previous, null::jsonb as error`;

/** Asks running jobs to stop; their workers see it through the change feed or a heartbeat. */
export const requestCancel = (sql: Db, schema: string, ids: readonly string[]) =>
  sql<{ id: string; type: string; status: JobStatus; attempt: number }[]>`
  update ${sql(schema)}.jobs j set cancel_requested = true, updated_at = ${statementTime(sql)}
  where j.id = any(array${uuidList(sql, ids)}) and j.status = 'running'
  returning j.id::text as id, j.type, j.status, j.attempt`;

/** A job below a retried one that a cascade cancelled, with what revival needs to know. */
export interface CascadedRow {
  readonly id: string;
  readonly cancel_cause: string;
  readonly idempotency_key: string | null;
  readonly depends_on: string[];
}

/** `below(id)`: the jobs cancelled by a cascade, transitively below `rootId` through such jobs (unlocked). */
const cascadedBelow = (sql: Db, schema: string, rootId: string) => sql`
  below(id) as (
    select d.job_id from ${sql(schema)}.job_dependencies d
    join ${sql(schema)}.jobs c on c.id = d.job_id and c.status = 'cancelled' and c.cancel_cause is not null
    where d.depends_on_id = ${rootId}::uuid
    union
    select x.job_id from below b ${dependentsStep(sql, schema, sql`c.status = 'cancelled' and c.cancel_cause is not null`)}
  )`;

/**
 * Queues this retry behind every other retry whose jobs meet its own: takes a transaction-level
 * advisory lock (in this schema's key space) for each job the retry reads or changes as it finds
 * them now (the job, its dependencies, the jobs its failure cancelled below it, and their
 * dependencies), in one order for all retries. The rows are then locked as before: failed jobs with
 * a dependent in common, retried at once, each locked its own job first and the others later, in
 * opposite orders (ten or more at once ran out of deadlock retries). Inserts, settles and retention
 * take no such lock and wait for nothing more than before.
 */
export const queueBehindOverlappingRetries = (sql: Db, schema: string, rootId: string) => sql`
  with recursive ${cascadedBelow(sql, schema, rootId)},
  members(id) as (
    select ${rootId}::uuid
    union select id from below
    union select d.depends_on_id from ${sql(schema)}.job_dependencies d
      where d.job_id = ${rootId}::uuid or d.job_id in (select id from below)
  )
  select count(pg_advisory_xact_lock(hashtext(${`${schema}.retry`}), m.k)) as locked
  from (select distinct hashtext(id::text) as k from members order by k) m`;

/** Jobs cancelled by a cascade, transitively below `rootId` through such jobs; locked. */
export const lockCascadedBelow = (sql: Db, schema: string, rootId: string) => sql<CascadedRow[]>`
  with recursive ${cascadedBelow(sql, schema, rootId)}
  select j.id::text as id, j.cancel_cause::text as cancel_cause, j.idempotency_key,
    to_jsonb(array(select d.depends_on_id::text from ${sql(schema)}.job_dependencies d where d.job_id = j.id order by d.position)) as depends_on
  from ${sql(schema)}.jobs j where j.id = any(array(select id from below)) and j.status = 'cancelled'
  order by j.seq
  for no key update`;

/** Statuses of jobs, locked FOR SHARE so none of them settles before this transaction ends. */
export const lockStatuses = (sql: Db, schema: string, ids: readonly string[]) => sql<{ id: string; status: JobStatus }[]>`
  select j.id::text as id, j.status from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)}) for share`;

/** Makes a failed or cancelled job pending or blocked again, as `planRestart` decided, with a fresh attempt budget. */
export const restartJob = (sql: Db, schema: string, id: string, restart: { status: "pending" | "blocked"; unfinished: number }) => sql<JobRow[]>`
  update ${sql(schema)}.jobs j set
    status = ${restart.status}, attempt = 0, error = null, result = null, finished_at = null, started_at = null,
    run_at = ${statementTime(sql)}, updated_at = ${statementTime(sql)}, cancel_cause = null, cancel_requested = false, pending_dependencies = ${restart.unfinished},
    lease_token = null, lease_expires_at = null, worker_id = null,
    ${transitionAppended(sql, { from: sql`j.status`, to: sql`${restart.status}::text`, attempt: sql`0`, at: statementTime(sql) })}
  where j.id = ${id}::uuid and j.status in ('failed', 'cancelled')
  returning ${jobColumns(sql, schema)}`;

/** One revived dependent and its count of unfinished dependencies. */
export interface RevivalRow {
  readonly id: string;
  readonly pending_dependencies: number;
}

export const reviveDependents = (sql: Db, schema: string, rows: readonly RevivalRow[]) => sql<ChangeRow[]>`
  update ${sql(schema)}.jobs j set
    status = 'blocked', error = null, finished_at = null, cancel_cause = null, updated_at = ${statementTime(sql)},
    pending_dependencies = r.pending_dependencies,
    ${transitionAppended(sql, { from: sql`'cancelled'::text`, to: sql`'blocked'::text`, attempt: sql`j.attempt`, at: statementTime(sql) })}
  from jsonb_to_recordset(${sql.json(rows as unknown as JsonDoc)}) as r(id uuid, pending_dependencies int)
  where j.id = r.id and j.status = 'cancelled'
  returning j.id::text as id, j.type, j.status, j.attempt, 'cancelled' as previous, null::jsonb as error`;

/** A cascaded job that stays cancelled, now blamed on another broken dependency. */
export interface BlameRow {
  readonly id: string;
  readonly cause: string;
  readonly error: ErrorInfo;
}

export const reattributeCancellations = (sql: Db, schema: string, rows: readonly BlameRow[]) => sql`
  update ${sql(schema)}.jobs j set cancel_cause = (e.doc->>'cause')::uuid, error = e.doc->'error'
  from jsonb_array_elements(${sql.json(rows as unknown as JsonDoc)}) as e(doc)
  where j.id = (e.doc->>'id')::uuid and j.status = 'cancelled'`;
