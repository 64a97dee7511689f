import { dependentsStep, uuidList, type Db } from "./fragments.js";

// The lock a settle or cancel takes first, on everything it may change.

/** What one write transaction may change: the jobs it names and the dependents they reach. */
export interface AffectedJobs {
  /** Jobs changed whatever their status (the settled or cancelled ones). */
  readonly named: readonly string[];
  /** Jobs whose blocked or pending direct dependents may be unblocked. */
  readonly unblocking: readonly string[];
  /** Jobs whose blocked or pending transitive dependents may be cancelled. */
  readonly cascading: readonly string[];
}

/**
 * Locks, in id order and in one statement, every job a settle or cancel may change, before it
 * changes any. Updates take row locks in whatever order their plans meet the rows, and a settle
 * locks in phases (the job, then what it unblocks or cancels); two overlapping transactions
 * could then lock the same jobs in opposite orders and deadlock. Taken sorted up front, the
 * locks make them queue instead.
 */
export const lockAffected = (sql: Db, schema: string, affected: AffectedJobs) => sql`
  with recursive below(id) as (
    select d.job_id from ${sql(schema)}.job_dependencies d where d.depends_on_id = any(array${uuidList(sql, affected.cascading)})
    union
    select x.job_id from below b ${dependentsStep(sql, schema)}
  ),
  targets(id) as (
    select id from below
    union all
    select d.job_id from ${sql(schema)}.job_dependencies d where d.depends_on_id = any(array${uuidList(sql, affected.unblocking)})
    union all
    select * from ${uuidList(sql, affected.named)} n
  )
  select j.id from ${sql(schema)}.jobs j
  where j.id = any(array(select id from targets))
    and (j.status in ('blocked', 'pending') or j.id = any(array${uuidList(sql, affected.named)}))
  order by j.id
  for no key update`;
