import type { JobStatus } from "../../../types.js";
import { uuidList, type Db } from "./fragments.js";

// An attempt's transaction (`ctx.tx`) marks itself for as long as it is open, with a shared
// transaction-level advisory lock on its job (no one takes it exclusively: it never waits), so that a
// cancel held up by the rows it holds can tell which running job to stop. pg_locks shows it to every
// session; nothing of the session (its application_name) changes.

/** The advisory lock's two keys: this schema's attempts, and the job. */
const markKeys = (sql: Db, schema: string, jobId: ReturnType<Db>) => sql`hashtext(${`${schema}.attempt`}), hashtext(${jobId})`;

/** Marks the transaction as the attempt of `jobId` until it ends. */
export const markAttemptTransaction = (sql: Db, schema: string, jobId: string) =>
  sql`select pg_advisory_xact_lock_shared(${markKeys(sql, schema, sql`${jobId.toLowerCase()}::text`)})`;

/**
 * Of `ids`, the running jobs whose attempt's transaction is open and holds a row lock or a write (its
 * session has a transaction id). Waits for no lock.
 */
export const selectRunningInOpenAttempts = (sql: Db, schema: string, ids: readonly string[]) =>
  sql<{ id: string; type: string; status: JobStatus; attempt: number }[]>`
  select j.id::text as id, j.type, j.status, j.attempt from ${sql(schema)}.jobs j
  where j.id = any(array${uuidList(sql, ids)}) and j.status = 'running'
    and exists (
      select 1 from pg_locks m join pg_locks x on x.pid = m.pid and x.locktype = 'transactionid' and x.granted
      where m.locktype = 'advisory' and m.granted and m.database = (select oid from pg_database where datname = current_database())
        and (m.classid::int, m.objid::int, m.objsubid) = (select ${markKeys(sql, schema, sql`j.id::text`)}, 2))
  order by j.id`;
