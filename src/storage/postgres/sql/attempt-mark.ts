import type { JobStatus } from "../../../types.js";
import { dependentsStep, uuidList, type Db } from "./fragments.js";

// An attempt's transaction (`ctx.tx`) marks itself for as long as it is open, with a shared
// transaction-level advisory lock on its job (no one takes it exclusively: it never waits), so that a
// cancel held up by the rows it holds can tell which running job to stop. pg_locks shows it to every
// session; nothing of the session (its application_name) changes.

/** The advisory lock's two keys: this schema's attempts, and the job. */
const markKeys = (sql: Db, schema: string, jobId: ReturnType<Db>) => sql`hashtext(${`${schema}.attempt`}), hashtext(${jobId})`;

/** Marks the transaction as the attempt of `jobId` until it ends. */
export const markAttemptTransaction = (sql: Db, schema: string, jobId: string) =>
  sql`select pg_advisory_xact_lock_shared(${markKeys(sql, schema, sql`${jobId.toLowerCase()}::text`)})`;

/** Bounds the time of the rest of the transaction's statements (the look-up below: a wide graph is slow). */
export const limitStatementTime = (sql: Db, ms: number) => sql`select set_config('statement_timeout', ${`${ms}ms`}, true)`;

/**
 * Of `ids`, the running jobs whose attempt's transaction is open and itself holds a row a cancel of
 * the job locks: the job's own, or a blocked or pending job below it (an insert naming it, as the
 * row's only locker: its xmax is one of that session's transaction ids). Waits for no lock; reads
 * pg_locks twice, whatever the number of jobs.
 */
export const selectRunningHeldByOwnAttempt = (sql: Db, schema: string, ids: readonly string[]) =>
  sql<{ id: string; type: string; status: JobStatus; attempt: number }[]>`
  with recursive xids as materialized (
    select x.pid, x.transactionid as xid from pg_locks x where x.locktype = 'transactionid' and x.granted
  ),
  marks as materialized (
    select m.pid, m.objid::int as key from pg_locks m
    where m.locktype = 'advisory' and m.granted and m.objsubid = 2
      and m.database = (select oid from pg_database where datname = current_database())
      and m.classid::int = hashtext(${`${schema}.attempt`})
  ),
  attempts as materialized (
    select j.id, k.pid from ${sql(schema)}.jobs j join marks k on k.key = hashtext(j.id::text)
    where j.id = any(array${uuidList(sql, ids)}) and j.status = 'running'
  ),
  below(root, id) as (
    select a.id, a.id from attempts a
    union
    select b.root, x.job_id from below b ${dependentsStep(sql, schema, sql`c.status in ('blocked', 'pending')`)}
  )
  select j.id::text as id, j.type, j.status, j.attempt from ${sql(schema)}.jobs j
  where j.id in (
    select a.id from attempts a join below b on b.root = a.id join ${sql(schema)}.jobs r on r.id = b.id
    join xids x on x.pid = a.pid and x.xid = r.xmax)
  order by j.id`;
