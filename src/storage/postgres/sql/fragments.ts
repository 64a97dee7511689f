import type postgres from "postgres";
import type { ErrorInfo, JobStatus } from "../../../types.js";
import { textArray } from "../driver.js";

// The pieces the statements of PostgresStorage share. The statements live beside this file, one
// function per statement, grouped by the operation that runs them. Identifiers go through
// `sql(schema)`; every value is a parameter. A batch is one statement: id lists and the settle's
// columns travel as text arrays (`textArray`), rows holding JSON documents as one jsonb document,
// which keeps JSON `null` payloads distinct from SQL NULL; both handle empty lists.

/** A connection, a pool or a transaction: anything that runs a tagged template. */
export type Db = postgres.ISql<{}>;

/** A JSON document as postgres.js sends it (`sql.json`). */
export type JsonDoc = postgres.JSONValue;

/** A value as JSON text for a jsonb column (`null` for what JSON cannot hold, as `sql.json` would leave it out). */
export const jsonText = (value: unknown): string => JSON.stringify(value) ?? "null";

/** The columns of a job row but its dependencies; `j` is the jobs alias. */
export const jobFields = (sql: Db) => sql`
  j.id::text as id, j.seq::text as seq, j.type, j.status, j.priority, j.payload, j.result, j.error, j.attempt,
  j.max_attempts, j.backoff, j.idempotency_key, j.resources, j.timeout_ms, j.run_at, j.created_at, j.updated_at,
  j.started_at, j.finished_at, j.lease_token::text as lease_token, j.lease_expires_at, j.cancel_requested, j.attempts`;

/** The dependencies of the job `j`, in their given order, as the column `depends_on` (a JSON array of text ids). */
export const dependsOnColumn = (sql: Db, schema: string) => sql`
  to_jsonb(array(select d.depends_on_id::text from ${sql(schema)}.job_dependencies d where d.job_id = j.id order by d.position)) as depends_on`;

/** The columns of a job row, with its dependencies in their given order; `j` is the jobs alias. */
export const jobColumns = (sql: Db, schema: string) => sql`
  ${jobFields(sql)},
  ${dependsOnColumn(sql, schema)}`;

/**
 * The dependencies, in their given order, of the jobs whose text ids `ids` (a query) yields, as
 * rows `(job_id uuid, depends_on jsonb)` (a JSON array of text ids); a job without any has no row. One index scan for a whole
 * batch, where a subquery per returned row (as in `jobColumns`) runs a scan of its own for each.
 */
export const dependenciesOf = (sql: Db, schema: string, ids: ReturnType<Db>) => sql`
  select d.job_id, jsonb_agg(d.depends_on_id::text order by d.position) as depends_on
  from ${sql(schema)}.job_dependencies d where d.job_id = any(array(select x::uuid from (${ids}) as i(x)))
  group by d.job_id`;

/**
 * A list of strings as a set of uuids, sent as one text array (half the server's work per id of a
 * jsonb document taken apart by `jsonb_array_elements_text`). Compare with
 * `= any(array${uuidList(...)})`: the planner then looks the ids up in the index, where
 * `in (subquery)` guesses 100 rows and scans the whole table once it holds a few thousand jobs.
 */
export const uuidList = (sql: Db, ids: readonly string[]) => sql`(select x::uuid from unnest(${textArray(ids)}::text[]) x)`;

/**
 * A status test written out as a constant, so that the planner can match it to a partial index:
 * `(seq) where status = 'failed'` (cancelled, blocked likewise) lists those without walking past
 * the others. A status outside the enum matches nothing.
 */
export const statusIs = (sql: Db, status: string): ReturnType<Db> => {
  switch (status) {
    case "blocked":
      return sql`j.status = 'blocked'`;
    case "pending":
      return sql`j.status = 'pending'`;
    case "running":
      return sql`j.status = 'running'`;
    case "completed":
      return sql`j.status = 'completed'`;
    case "failed":
      return sql`j.status = 'failed'`;
    case "cancelled":
      return sql`j.status = 'cancelled'`;
    default:
      return sql`false`;
  }
};

/**
 * The recursive step of a walk down the graph from the ids in the working table `b`: each one's
 * dependents, as `x(job_id)`, looked up through the index one id at a time, optionally kept to jobs
 * matching `where` (on `c`, the dependent's row). `offset 0` keeps the planner from making it a join
 * of the whole working table, which it may plan as a scan of every edge per step: a 1,000-job chain
 * among 60,000 edges then took 43 s instead of a few ms.
 */
export const dependentsStep = (sql: Db, schema: string, where?: ReturnType<Db>) => sql`
  cross join lateral (
    select d.job_id from ${sql(schema)}.job_dependencies d
    ${where === undefined ? sql`` : sql`join ${sql(schema)}.jobs c on c.id = d.job_id and ${where}`}
    where d.depends_on_id = b.id
    offset 0
  ) x`;

/** A status change as the statements report it; `previous` is the status before. */
export interface ChangeRow {
  readonly id: string;
  readonly type: string;
  readonly status: JobStatus;
  readonly attempt: number;
  readonly previous: JobStatus;
  readonly error: ErrorInfo | null;
}

/**
 * When a settle, cancel or retry, or a change it makes to other jobs (an unblock, a cascade, a
 * revival), happened: its statement's time, not its transaction's. An outcome committed through an
 * attempt's `ctx.tx` shares the transaction the handler opened when it first used `ctx.tx`, and
 * `now()` there is that moment, up to the whole run earlier; and a write that waited for locks is
 * stamped after the writes it waited for, so a job's history stays in order.
 */
export const statementTime = (sql: Db): ReturnType<Db> => sql`statement_timestamp()`;

/**
 * The status half of a lease's compare-and-set, for `jobs j` joined by id to the leases a batch
 * names: `j.status = 'running'` compared with a subquery's value, which the planner cannot match to
 * the partial index of running jobs (`jobs_rescue_idx`), so it finds the rows through the primary
 * key. Written as a constant, it could: with statistics taken when hardly any job ran (a table of
 * many retained finished jobs, analyzed between bursts) the planner expected one running job, walked
 * them all through that index and joined each to every lease of the batch (50 × 50 rows, the
 * lease's text parsed as a uuid for each pair: a settle of 50 in 2.2 ms instead of 0.7).
 */
export const leaseStillRunning = (sql: Db) => sql`j.status = (select 'running'::text)`;
