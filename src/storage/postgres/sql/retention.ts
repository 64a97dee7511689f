import { uuidList, type Db } from "./fragments.js";

// Retention: the deletion of old finished jobs, in two statements of one transaction. The first
// locks the candidates; the second deletes those that no dependent keeps, judged again by a snapshot
// taken after the locks. One statement judged by its start snapshot alone: an insert of a dependent
// (or a retry reviving one) that committed between that snapshot and the row's lock leaves the row
// itself unchanged, so PostgreSQL does not re-check it, and the job was deleted under its dependent.

/** Cutoffs per terminal status (null: keep that status) and the most jobs to delete. */
export interface RetentionRow {
  readonly completedBefore: Date | null;
  readonly failedBefore: Date | null;
  readonly cancelledBefore: Date | null;
  readonly limit: number;
}

/**
 * Whether a dependent keeps the finished job `alias`: a completed job while a dependent is still
 * blocked, pending or running; a failed or cancelled job while it has any dependent at all (those
 * are cancelled because of it, or were before a cancel: deleting the dependency would let a retry
 * of the dependent run it as if it had completed).
 */
const keptByDependent = (sql: Db, schema: string, alias: string) => sql`
  exists (
    select 1 from ${sql(schema)}.job_dependencies d join ${sql(schema)}.jobs dependent on dependent.id = d.job_id
    where d.depends_on_id = ${sql(alias)}.id and (${sql(alias)}.status <> 'completed' or dependent.status in ('blocked', 'pending', 'running')))`;

/**
 * Finished jobs older than their status's cutoff that no dependent keeps, oldest first, locked
 * FOR UPDATE; rows another transaction holds (an insert of a dependent holds its dependencies) are
 * skipped. A dependent committed after this statement's snapshot may keep some: see `deleteUnkept`.
 */
export const lockExpiredJobs = (sql: Db, schema: string, r: RetentionRow) => sql<{ id: string }[]>`
  select c.id::text as id from ${sql(schema)}.jobs c
  where c.status in ('completed', 'failed', 'cancelled')
    and ((c.status = 'completed' and coalesce(c.finished_at, c.updated_at) < ${r.completedBefore}::timestamptz)
      or (c.status = 'failed' and coalesce(c.finished_at, c.updated_at) < ${r.failedBefore}::timestamptz)
      or (c.status = 'cancelled' and coalesce(c.finished_at, c.updated_at) < ${r.cancelledBefore}::timestamptz))
    and not ${keptByDependent(sql, schema, "c")}
  order by coalesce(c.finished_at, c.updated_at), c.seq
  limit ${r.limit}
  for update of c skip locked`;

/**
 * Deletes the jobs `lockExpiredJobs` locked that still no dependent keeps, by this statement's
 * snapshot: every transaction that held one of them has committed by now, and none can add a
 * dependent to them before this one ends. Their history goes with the row; their handler lines and
 * edges through the foreign keys' `on delete cascade`.
 */
export const deleteUnkept = (sql: Db, schema: string, ids: readonly string[]) => sql`
  delete from ${sql(schema)}.jobs j
  where j.id = any(array${uuidList(sql, ids)}) and not ${keptByDependent(sql, schema, "j")}`;
