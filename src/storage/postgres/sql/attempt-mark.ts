import type { JobStatus } from "../../../types.js";
import { uuidList, type Db } from "./fragments.js";

// An attempt's transaction (`ctx.tx`) marks itself in pg_stat_activity for as long as it is open,
// so that a cancel held up by the rows it holds can tell which running job to stop.

const MARK = "jobgraph attempt ";

/**
 * Names the transaction's session after the attempt's job (`application_name`, set for the
 * transaction only: the connection's own name comes back when it ends).
 */
export const markAttemptTransaction = (sql: Db, jobId: string) => sql`select set_config('application_name', ${`${MARK}${jobId.toLowerCase()}`}, true)`;

/**
 * Of `ids`, the running jobs whose attempt's transaction is open and holds a row lock or a write (its
 * session has a transaction id). Needs to see that session's `backend_xid`: the same role, or
 * pg_read_all_stats. Waits for no lock.
 */
export const selectRunningInOpenAttempts = (sql: Db, schema: string, ids: readonly string[]) =>
  sql<{ id: string; type: string; status: JobStatus; attempt: number }[]>`
  select j.id::text as id, j.type, j.status, j.attempt from ${sql(schema)}.jobs j
  where j.id = any(array${uuidList(sql, ids)}) and j.status = 'running'
    and exists (
      select 1 from pg_stat_activity a
      where a.datname = current_database() and a.application_name = ${MARK} || j.id::text and a.backend_xid is not null)
  order by j.id`;
