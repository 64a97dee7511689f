import type { ErrorInfo, JobStatus } from "../../../types.js";
import { textArray } from "../driver.js";
import { jsonText, uuidList, type Db, type JsonDoc } from "./fragments.js";
import { transitionEntry } from "./history.js";
import { lockWaitLimitedFromHere } from "./lock-affected.js";
import { notifiedChanges, type Notice } from "./notify.js";

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
  /** The payload as JSON text (`jsonText`). */
  readonly payload: string;
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

/**
 * JSON text of a column that must hold a value (`backoff`, `resources`): a caller that left it out gets
 * SQL NULL, which the column's NOT NULL refuses, rather than JSON `null`.
 */
const requiredJson = (value: unknown): string | null => JSON.stringify(value) ?? null;

/**
 * `requiredJson` of each row's `pick`, made once for a run of rows sharing one object: a batch's jobs
 * mostly share their handler's backoff and resources.
 */
const sharedJson = (pick: (row: JobInsertRow) => unknown) => {
  let last: unknown;
  let text: string | null = null;
  return (row: JobInsertRow): string | null => {
    const value = pick(row);
    if (value !== last || text === null) {
      last = value;
      text = requiredJson(value);
    }
    return text;
  };
};

/**
 * One new row as `newJobRows` gives it, each column its own parameter: a single job (an enqueue) sent
 * as arrays lost about an eighth of the one-at-a-time enqueue rate.
 */
const oneNewJobRow = (sql: Db, row: JobInsertRow) => {
  // JSON goes as text, cast by the server: a parameter the server types as jsonb, postgres.js would send as a JSON string.
  const json = (text: string | null) => sql`${text}::text::jsonb`;
  return sql`
    select 1::bigint as ord, ${row.id}::uuid as id, ${row.type}::text as type, ${row.status}::text as status,
      ${row.priority}::smallint as priority, ${json(row.payload)} as payload, ${row.max_attempts}::int as max_attempts,
      ${json(requiredJson(row.backoff))} as backoff, ${row.idempotency_key}::text as idempotency_key,
      ${json(requiredJson(row.resources))} as resources, ${row.timeout_ms}::int as timeout_ms, ${row.run_at}::timestamptz as run_at,
      ${row.pending_dependencies}::int as pending_dependencies, ${json(row.error === null ? null : jsonText(row.error))} as error,
      ${row.cancel_cause}::uuid as cancel_cause`;
};

/**
 * The new rows as `r(ord, id, type, status, priority, payload, max_attempts, backoff, idempotency_key,
 * resources, timeout_ms, run_at, pending_dependencies, error, cancel_cause)`, each column sent as one
 * text array (JSON columns as JSON text) and unnested: a jsonb document of objects, taken apart by
 * `jsonb_array_elements` and `jsonb_to_record`, cost the server half as much again per row. One row
 * goes as plain parameters (`oneNewJobRow`).
 */
const newJobRows = (sql: Db, rows: readonly JobInsertRow[]) => {
  const [only] = rows;
  if (rows.length === 1 && only !== undefined) return oneNewJobRow(sql, only);
  const column = (pick: (row: JobInsertRow) => string | null) => sql`${textArray(rows.map(pick))}::text[]`;
  return sql`
    select u.ord, u.id::uuid as id, u.type, u.status, u.priority::smallint as priority, u.payload::jsonb as payload,
      u.max_attempts::int as max_attempts, u.backoff::jsonb as backoff, u.idempotency_key, u.resources::jsonb as resources,
      u.timeout_ms::int as timeout_ms, u.run_at::timestamptz as run_at, u.pending_dependencies::int as pending_dependencies,
      u.error::jsonb as error, u.cancel_cause::uuid as cancel_cause
    from unnest(${column((r) => r.id)}, ${column((r) => r.type)}, ${column((r) => r.status)}, ${column((r) => String(r.priority))},
      ${column((r) => r.payload)}, ${column((r) => String(r.max_attempts))}, ${column(sharedJson((r) => r.backoff))},
      ${column((r) => r.idempotency_key)}, ${column(sharedJson((r) => r.resources))},
      ${column((r) => (r.timeout_ms === null ? null : String(r.timeout_ms)))}, ${column((r) => r.run_at)},
      ${column((r) => String(r.pending_dependencies))}, ${column((r) => (r.error === null ? null : jsonText(r.error)))},
      ${column((r) => r.cancel_cause)})
      with ordinality as u(id, type, status, priority, payload, max_attempts, backoff, idempotency_key, resources, timeout_ms, run_at,
        pending_dependencies, error, cancel_cause, ord)`;
};

/** Inserts jobs in order; a live idempotency key taken meanwhile skips the row (the caller re-plans). */
export const insertJobRows = (sql: Db, schema: string, rows: readonly JobInsertRow[]) => sql<{ id: string }[]>`
  insert into ${sql(schema)}.jobs (id, type, status, priority, payload, max_attempts, backoff, idempotency_key,
    resources, timeout_ms, run_at, pending_dependencies, error, cancel_cause, finished_at, transitions)
  select r.id, r.type, r.status, r.priority, r.payload, r.max_attempts, r.backoff, r.idempotency_key,
    r.resources, r.timeout_ms, r.run_at, r.pending_dependencies, r.error, r.cancel_cause,
    case when r.status = 'cancelled' then now() end,
    case when r.status = 'pending' then '[]'::jsonb
         else ${transitionEntry(sql, { from: sql`null::text`, to: sql`r.status`, attempt: sql`0`, error: sql`r.error` })} end
  from (${newJobRows(sql, rows)}) r
  order by r.ord
  on conflict (idempotency_key) where status in ('blocked', 'pending', 'running') and idempotency_key is not null do nothing
  returning id::text as id`;

/** What `insertRunnableJobs` returns: how many rows it inserted, and when (their created_at and updated_at). */
export interface InsertedRows {
  readonly inserted: number;
  readonly at: Date;
}

/**
 * Inserts jobs without dependencies as pending and notifies, in one statement. A live idempotency
 * key taken meanwhile skips its row (the caller then plans the insert under locks); an existing id
 * fails the statement. Returns one row, the count and the time: the caller knows the rest of each
 * row (a bulk insert would otherwise read back a row per job).
 */
export const insertRunnableJobs = (sql: Db, schema: string, notice: Notice, rows: readonly JobInsertRow[], lockWaitMs?: number) => sql<InsertedRows[]>`
  with inserted as (
    insert into ${sql(schema)}.jobs as j (id, type, status, priority, payload, max_attempts, backoff, idempotency_key,
      resources, timeout_ms, run_at)
    select r.id, r.type, 'pending', r.priority, r.payload, r.max_attempts, r.backoff, r.idempotency_key, r.resources, r.timeout_ms, r.run_at
    from (${newJobRows(sql, rows)}) r
    ${lockWaitMs === undefined ? sql`` : sql`where ${lockWaitLimitedFromHere(sql, lockWaitMs)}`}
    order by r.ord
    on conflict (idempotency_key) where status in ('blocked', 'pending', 'running') and idempotency_key is not null do nothing
    returning j.id::text as id, j.seq, j.type, j.status, j.attempt
  ),
  changed as (select i.seq as ord, i.id, i.type, i.status, i.attempt from inserted i),
  ${notifiedChanges(sql, notice)}
  select count(*)::int as inserted, now() as at, (select n from notified) as notified from inserted`;

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
