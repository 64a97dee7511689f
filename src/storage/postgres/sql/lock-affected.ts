import { dependentsStep, uuidList, type Db } from "./fragments.js";

/** A job a cascade may cancel (`c` the jobs alias). */
const waiting = (sql: Db): ReturnType<Db> => sql`c.status in ('blocked', 'pending')`;

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
 * locks make them queue instead. The walk below the cascade's roots goes only through blocked and
 * pending jobs, the ones a cascade cancels through, and the ones it locks: every job on a path it
 * finds is then locked (see `lockAffectedJobs`).
 */
export const lockAffected = (sql: Db, schema: string, affected: AffectedJobs) => sql<{ id: string }[]>`
  with recursive below(id) as (
    select d.job_id from ${sql(schema)}.job_dependencies d
    join ${sql(schema)}.jobs c on c.id = d.job_id and ${waiting(sql)}
    where d.depends_on_id = any(array${uuidList(sql, affected.cascading)})
    union
    select x.job_id from below b ${dependentsStep(sql, schema, waiting(sql))}
  ),
  targets(id) as (
    select id from below
    union all
    select d.job_id from ${sql(schema)}.job_dependencies d where d.depends_on_id = any(array${uuidList(sql, affected.unblocking)})
    union all
    select * from ${uuidList(sql, affected.named)} n
  )
  select j.id::text as id from ${sql(schema)}.jobs j
  where j.id = any(array(select id from targets))
    and (j.status in ('blocked', 'pending') or j.id = any(array${uuidList(sql, affected.named)}))
  order by j.id
  for no key update`;

/**
 * Locks those of `ids` that no other transaction holds, in id order, and answers them: the rescue
 * of an expired lease does not wait for a row that an insert naming the job, or the attempt's own
 * `ctx.tx`, holds (it tries again at its next pass).
 */
export const lockFreeJobs = (sql: Db, schema: string, ids: readonly string[]) => sql<{ id: string }[]>`
  select j.id::text as id from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)})
  order by j.id
  for no key update skip locked`;

/**
 * For the rest of the transaction, a lock waited for longer than `ms` fails the statement (55P03).
 * Kept below the server's deadlock_timeout (1 s unless configured), so that a rescue in a lock cycle
 * gives up before the server picks a victim, which may be the application's transaction.
 */
export const limitLockWait = (sql: Db, ms: number) => sql`select set_config('lock_timeout', ${`${ms}ms`}, true)`;

/**
 * A condition, true, that bounds lock waits as `limitLockWait` does for the rest of the statement
 * that evaluates it (its transaction, when it runs alone): read as a filter of the rows a write takes
 * them from, it is evaluated once, before the first row is written, and so before any wait for a lock
 * or a conflicting key; lock_timeout is read when a wait begins. Saves a transaction round trip.
 */
export const lockWaitLimitedFromHere = (sql: Db, ms: number) => sql`(select set_config('lock_timeout', ${`${ms}ms`}, true)) is not null`;

/** Lock waits unbounded again for the rest of the transaction (the session's setting). */
export const unlimitLockWait = (sql: Db) => sql`set local lock_timeout to default`;
