import type { ErrorInfo, JobStatus } from "../../../types.js";
import { dependentsStep, statementTime, uuidList, type ChangeRow, type Db, type JsonDoc } from "./fragments.js";
import { transitionAppended } from "./history.js";

// The statements of a cascade: the jobs below failed or cancelled ones, and their cancellation.

/** A job below a failed or cancelled one that a cascade may cancel, as `planCascade` reads it. */
export interface CascadeCandidateRow {
  readonly id: string;
  readonly status: JobStatus;
  readonly seq: string;
  readonly depends_on: string[];
}

/**
 * The transitive dependents, still blocked or pending, of the failed or cancelled jobs, with their
 * dependencies in order: a superset of what the cascade cancels, since the walk does not stop at
 * jobs in other statuses (looking statuses up at every edge cost more than the rare extra job);
 * `planCascade` walks only through waiting ones and picks the causes. `union` over ids alone makes
 * the walk visit each job once and each edge once; carrying a cause or a depth along would make
 * every path a row of its own (about n^3 of them where each job depends on all earlier ones).
 */
export const selectCascadeCandidates = (sql: Db, schema: string, rootIds: readonly string[]) => sql<CascadeCandidateRow[]>`
  with recursive below(id) as (
    select d.job_id from ${sql(schema)}.job_dependencies d where d.depends_on_id = any(array${uuidList(sql, rootIds)})
    union
    select x.job_id from below b ${dependentsStep(sql, schema)}
  )
  select j.id::text as id, j.status, j.seq::text as seq,
    to_jsonb(array(select d.depends_on_id::text from ${sql(schema)}.job_dependencies d where d.job_id = j.id order by d.position)) as depends_on
  from ${sql(schema)}.jobs j where j.id = any(array(select id from below)) and j.status in ('blocked', 'pending')`;

/** One cascade victim to cancel, blamed on `cause` with `error`. */
export interface CascadeVictimRow {
  readonly id: string;
  readonly cause: string;
  readonly error: ErrorInfo;
}

/** Cancels the planned cascade victims still blocked or pending, each with its cause and error. */
export const cancelDependents = (sql: Db, schema: string, victims: readonly CascadeVictimRow[]) => sql<ChangeRow[]>`
  update ${sql(schema)}.jobs j set
    status = 'cancelled', finished_at = ${statementTime(sql)}, updated_at = ${statementTime(sql)}, cancel_cause = (e.doc->>'cause')::uuid,
    error = e.doc->'error',
    ${transitionAppended(sql, { from: sql`j.status`, to: sql`'cancelled'::text`, attempt: sql`j.attempt`, error: sql`e.doc->'error'`, at: statementTime(sql) })}
  from jsonb_array_elements(${sql.json(victims as unknown as JsonDoc)}) as e(doc),
    ${sql(schema)}.jobs o
  where j.id = (e.doc->>'id')::uuid and o.id = j.id and j.status in ('blocked', 'pending')
  returning j.id::text as id, j.type, j.status, j.attempt, o.status as previous, j.error`;
