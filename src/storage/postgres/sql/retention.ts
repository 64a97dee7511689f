import type { Db } from "./fragments.js";

// Retention: the deletion of old finished jobs.

/** Cutoffs per terminal status (null: keep that status) and the most jobs to delete. */
export interface RetentionRow {
  readonly completedBefore: Date | null;
  readonly failedBefore: Date | null;
  readonly cancelledBefore: Date | null;
  readonly limit: number;
}

/**
 * Deletes finished jobs older than their status's cutoff, oldest first, skipping rows another
 * transaction holds, jobs with a dependent still blocked, pending or running, and failed or
 * cancelled jobs with any dependent at all (those are cancelled because of them, or were before a
 * cancel: deleting the dependency would let a retry of the dependent run it as if it had
 * completed). Their history goes with the row; their handler lines and edges through the foreign
 * keys' `on delete cascade`.
 */
export const deleteFinishedJobs = (sql: Db, schema: string, r: RetentionRow) => sql`
  delete from ${sql(schema)}.jobs j where j.id in (
    select c.id from ${sql(schema)}.jobs c
    where c.status in ('completed', 'failed', 'cancelled')
      and ((c.status = 'completed' and coalesce(c.finished_at, c.updated_at) < ${r.completedBefore}::timestamptz)
        or (c.status = 'failed' and coalesce(c.finished_at, c.updated_at) < ${r.failedBefore}::timestamptz)
        or (c.status = 'cancelled' and coalesce(c.finished_at, c.updated_at) < ${r.cancelledBefore}::timestamptz))
      and not exists (
        select 1 from ${sql(schema)}.job_dependencies d join ${sql(schema)}.jobs dependent on dependent.id = d.job_id
        where d.depends_on_id = c.id and (c.status <> 'completed' or dependent.status in ('blocked', 'pending', 'running')))
    order by coalesce(c.finished_at, c.updated_at), c.seq
    limit ${r.limit}
    for update of c skip locked)`;
