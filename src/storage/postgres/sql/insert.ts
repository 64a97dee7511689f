import type { ErrorInfo, JobStatus } from "../../../types.js";
import { uuidList, type Db, type JsonDoc } from "./fragments.js";
import { transitionEntry } from "./history.js";
import { notifiedChanges } from "./notify.js";

// The statements of an insert: the locks and lookups its plan needs, then the rows and edges.

/**
 * Stored jobs among `ids` (dependencies, and batch ids that must not exist yet), locked FOR SHARE:
 * a dependency cannot settle until this insert commits, and its settle then sees the new edges.
 */
export const lockExistingJobs = (sql: Db, schema: string, ids: readonly string[]) => sql<{ id: string; status: JobStatus }[]>`
  select j.id::text as id, j.status from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)}) order by j.id for share`;

/** Live jobs holding any of `keys` (matching the partial idempotency index's predicate in full). */
export const liveKeyHolders = (sql: Db, schema: string, keys: readonly string[]) =>
  sql<{ id: string; status: JobStatus; idempotency_key: string }[]>`
  select j.id::text as id, j.status, j.idempotency_key from ${sql(schema)}.jobs j
  where j.idempotency_key in (select jsonb_array_elements_text(${sql.json(keys as JsonDoc)}))
    and j.status in ('blocked', 'pending', 'running') and j.idempotency_key is not null
  for share`;

/** One new job, its status decided, as the insert statement reads it. */
export interface JobInsertRow {
  readonly id: string;
  readonly type: string;
  readonly status: JobStatus;
  readonly priority: number;
  readonly payload: unknown;
  readonly max_attempts: number;
  readonly backoff: unknown;
  readonly idempotency_key: string | null;
  readonly resources: unknown;
  readonly timeout_ms: number | null;
  readonly run_at: string;
  readonly pending_dependencies: number;
  readonly error: ErrorInfo | null;
  readonly cancel_cause: string | null;
}

/** Inserts jobs in order; a live idempotency key taken meanwhile skips the row (the caller re-plans). */
export const insertJobRows = (sql: Db, schema: string, rows: readonly JobInsertRow[]) => sql<{ id: string }[]>`
  insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, idempotency_key,
    resources, timeout_ms, run_at, pending_dependencies, error, cancel_cause, finished_at, transitions)
  select r.id, r.type, r.status, r.priority, coalesce(e.doc->'payload', 'null'::jsonb), r.max_attempts, e.doc->'backoff', r.idempotency_key,
    e.doc->'resources', r.timeout_ms, r.run_at, r.pending_dependencies, e.doc->'error', r.cancel_cause,
    case when r.status = 'cancelled' then now() end,
    case when r.status = 'pending' then '[]'::jsonb
         else ${transitionEntry(sql, { from: sql`null::text`, to: sql`r.status`, attempt: sql`0`, error: sql`e.doc->'error'` })} end
  from jsonb_array_elements(${sql.json(rows as unknown as JsonDoc)}) with ordinality as e(doc, ord)
  cross join lateral jsonb_to_record(e.doc) as r(id uuid, type text, status text, priority smallint, max_attempts int,
    idempotency_key text, timeout_ms int, run_at timestamptz, pending_dependencies int, cancel_cause uuid)
  order by e.ord
  on conflict (idempotency_key) where status in ('blocked', 'pending', 'running') and idempotency_key is not null do nothing
  returning id::text as id`;

/** What `insertRunnableJobs` returns of each row: what the database decided, not what the caller sent. */
export interface InsertedRow {
  readonly id: string;
  readonly seq: string;
  readonly run_at: Date;
  readonly created_at: Date;
  readonly updated_at: Date;
}

/**
 * Inserts jobs without dependencies as pending and notifies, in one statement. A live idempotency key taken meanwhile skips its row (the caller then plans
 * the insert under locks); an existing id fails the statement. Returns, of each inserted row, only
 * what the caller does not already know (a bulk insert would otherwise read every payload back).
 */
export const insertRunnableJobs = (sql: Db, schema: string, channel: string, rows: readonly JobInsertRow[]) => sql<InsertedRow[]>`
  with inserted as (
    insert into ${sql(schema)}.jobs as j (id, type, status, priority, payload, max_attempts, backoff, idempotency_key,
      resources, timeout_ms, run_at)
    select r.id, r.type, 'pending', r.priority, coalesce(e.doc->'payload', 'null'::jsonb), r.max_attempts, e.doc->'backoff',
      r.idempotency_key, e.doc->'resources', r.timeout_ms, r.run_at
    from jsonb_array_elements(${sql.json(rows as unknown as JsonDoc)}) with ordinality as e(doc, ord)
    cross join lateral jsonb_to_record(e.doc) as r(id uuid, type text, priority smallint, max_attempts int,
      idempotency_key text, timeout_ms int, run_at timestamptz)
    order by e.ord
    on conflict (idempotency_key) where status in ('blocked', 'pending', 'running') and idempotency_key is not null do nothing
    returning j.id::text as id, j.seq, j.type, j.status, j.attempt, j.run_at, j.created_at, j.updated_at
  ),
  changed as (select i.seq as ord, i.id, i.type, i.status, i.attempt from inserted i),
  ${notifiedChanges(sql, channel)}
  select i.id, i.seq::text as seq, i.run_at, i.created_at, i.updated_at, (select n from notified) as notified from inserted i`;

/** One edge of the graph; `position` keeps `dependsOn` in its given order. */
export interface EdgeRow {
  readonly job_id: string;
  readonly depends_on_id: string;
  readonly position: number;
}

export const insertEdges = (sql: Db, schema: string, edges: readonly EdgeRow[]) => sql`
  insert into ${sql(schema)}.job_dependencies (job_id, depends_on_id, position)
  select r.job_id, r.depends_on_id, r.position
  from jsonb_to_recordset(${sql.json(edges as unknown as JsonDoc)}) as r(job_id uuid, depends_on_id uuid, position int)`;
