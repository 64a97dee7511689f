import type postgres from "postgres";
import type { ErrorInfo, JobStatus, Json } from "../../types.js";
import { textArray } from "./driver.js";
import type { JobRow } from "./rows.js";
import { attemptClosed, attemptOpened, transitionAppended, transitionEntry } from "./sql/history.js";

// Every SQL statement PostgresStorage runs, one function per statement. Identifiers go through
// `sql(schema)`; every value is a parameter. A batch is one statement: id lists and the settle's
// columns travel as text arrays (`textArray`), rows holding JSON documents as one jsonb document,
// which keeps JSON `null` payloads distinct from SQL NULL; both handle empty lists.

/** A connection, a pool or a transaction: anything that runs a tagged template. */
export type Db = postgres.ISql<{}>;

type JsonDoc = postgres.JSONValue;

/** The columns of a job row but its dependencies; `j` is the jobs alias. */
const jobFields = (sql: Db) => sql`
  j.id::text as id, j.seq::text as seq, j.type, j.status, j.priority, j.payload, j.result, j.error, j.attempt,
  j.max_attempts, j.backoff, j.idempotency_key, j.resources, j.timeout_ms, j.run_at, j.created_at, j.updated_at,
  j.started_at, j.finished_at, j.lease_token::text as lease_token, j.lease_expires_at, j.cancel_requested, j.attempts`;

/** The columns of a job row, with its dependencies in their given order; `j` is the jobs alias. */
const jobColumns = (sql: Db, schema: string) => sql`
  ${jobFields(sql)},
  to_jsonb(array(select d.depends_on_id::text from ${sql(schema)}.job_dependencies d where d.job_id = j.id order by d.position)) as depends_on`;

/**
 * The dependencies, in their given order, of the jobs whose text ids `ids` (a query) yields, as
 * rows `(job_id uuid, depends_on jsonb)` (a JSON array of text ids); a job without any has no row. One index scan for a whole
 * batch, where a subquery per returned row (as in `jobColumns`) runs a scan of its own for each.
 */
const dependenciesOf = (sql: Db, schema: string, ids: ReturnType<Db>) => sql`
  select d.job_id, jsonb_agg(d.depends_on_id::text order by d.position) as depends_on
  from ${sql(schema)}.job_dependencies d where d.job_id = any(array(select x::uuid from (${ids}) as i(x)))
  group by d.job_id`;

/**
 * A list of strings as a set of uuids, sent as one text array (half the server's work per id of a
 * jsonb document taken apart by `jsonb_array_elements_text`). Compare with
 * `= any(array${uuidList(...)})`: the planner then looks the ids up in the index, where
 * `in (subquery)` guesses 100 rows and scans the whole table once it holds a few thousand jobs.
 */
const uuidList = (sql: Db, ids: readonly string[]) => sql`(select x::uuid from unnest(${textArray(ids)}::text[]) x)`;

// ---- migrations ------------------------------------------------------------------------------

/** Serialises every migration run on this schema, across processes, until the transaction ends. */
export const lockMigrations = (sql: Db, schema: string) => sql`
  select pg_advisory_xact_lock(hashtextextended(${"jobgraph.migrate:" + schema}, 0))`;

export const schemaExists = (sql: Db, schema: string) => sql<{ exists: boolean }[]>`
  select exists (select 1 from pg_namespace where nspname = ${schema}) as exists`;

export const createSchema = (sql: Db, schema: string) => sql`create schema ${sql(schema)}`;

export const migrationsTableExists = (sql: Db, schema: string) => sql<{ exists: boolean }[]>`
  select exists (select 1 from pg_tables where schemaname = ${schema} and tablename = 'migrations') as exists`;

export const createMigrationsTable = (sql: Db, schema: string) => sql`
  create table ${sql(schema)}.migrations (
    version int primary key,
    name text not null,
    applied_at timestamptz not null default now()
  )`;

export const appliedMigrations = (sql: Db, schema: string) => sql<{ version: number }[]>`
  select version from ${sql(schema)}.migrations order by version`;

export const recordMigration = (sql: Db, schema: string, version: number, name: string) => sql`
  insert into ${sql(schema)}.migrations (version, name) values (${version}, ${name})`;

// Migration 1: the initial schema.

export const createJobsTable = (sql: Db, schema: string) => sql`
  create table ${sql(schema)}.jobs (
    id uuid primary key,
    seq bigint generated always as identity,
    type text not null,
    status text not null check (status in ('blocked', 'pending', 'running', 'completed', 'failed', 'cancelled')),
    priority smallint not null check (priority between 0 and 3),
    payload jsonb not null,
    result jsonb,
    error jsonb,
    attempt int not null default 0 check (attempt >= 0),
    max_attempts int not null check (max_attempts >= 1),
    backoff jsonb not null,
    idempotency_key text,
    resources jsonb not null default '{}',
    timeout_ms int,
    run_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    lease_token uuid,
    lease_expires_at timestamptz,
    worker_id text,
    cancel_requested boolean not null default false,
    pending_dependencies int not null default 0,
    cancel_cause uuid
  )`;

export const createJobsIndexes = (sql: Db, schema: string) => [
  sql`create unique index jobs_seq_idx on ${sql(schema)}.jobs (seq)`,
  sql`create index jobs_claim_idx on ${sql(schema)}.jobs (priority, run_at, seq) include (type) where status = 'pending'`,
  sql`create index jobs_rescue_idx on ${sql(schema)}.jobs (lease_expires_at) where status = 'running'`,
  sql`create unique index jobs_idempotency_idx on ${sql(schema)}.jobs (idempotency_key)
        where status in ('blocked', 'pending', 'running')`,
  sql`create index jobs_status_idx on ${sql(schema)}.jobs (status, seq)`,
  sql`create index jobs_type_idx on ${sql(schema)}.jobs (type, seq)`,
  sql`create index jobs_created_at_idx on ${sql(schema)}.jobs (created_at)`,
];

export const createDependenciesTable = (sql: Db, schema: string) => sql`
  create table ${sql(schema)}.job_dependencies (
    job_id uuid not null references ${sql(schema)}.jobs (id) on delete cascade,
    depends_on_id uuid not null references ${sql(schema)}.jobs (id) on delete cascade,
    position int not null,
    primary key (job_id, depends_on_id)
  )`;

export const createDependenciesIndex = (sql: Db, schema: string) => sql`
  create index job_dependencies_depends_on_idx on ${sql(schema)}.job_dependencies (depends_on_id)`;

export const createLogsTable = (sql: Db, schema: string) => sql`
  create table ${sql(schema)}.job_logs (
    seq bigint generated always as identity primary key,
    job_id uuid not null references ${sql(schema)}.jobs (id) on delete cascade,
    at timestamptz not null,
    attempt int not null,
    kind text not null check (kind in ('status', 'log')),
    level text,
    message text not null,
    data jsonb
  )`;

export const createLogsIndex = (sql: Db, schema: string) => sql`
  create index job_logs_job_idx on ${sql(schema)}.job_logs (job_id, seq)`;

// Migration 2: retention.

/** Finished jobs by when they ended, oldest first, for `deleteFinishedJobs`. */
export const createFinishedIndex = (sql: Db, schema: string) => sql`
  create index jobs_finished_idx on ${sql(schema)}.jobs ((coalesce(finished_at, updated_at)), seq)
  where status in ('completed', 'failed', 'cancelled')`;

// Migration 3: no index on created_at.

/**
 * No query reads jobs by `created_at` (pages go by `seq`, which orders jobs the same way), and the
 * index cost every insert and every status change an entry.
 */
export const dropCreatedAtIndex = (sql: Db, schema: string) => sql`drop index if exists ${sql(schema)}.jobs_created_at_idx`;

// ---- insert ----------------------------------------------------------------------------------

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

// ---- reads -----------------------------------------------------------------------------------

export const selectJobs = (sql: Db, schema: string, ids: readonly string[]) => sql<JobRow[]>`
  select ${jobColumns(sql, schema)} from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)})`;

/** Existing ids among `ids` (no lock). */
export const selectExistingIds = (sql: Db, schema: string, ids: readonly string[]) => sql<{ id: string }[]>`
  select j.id::text as id from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)})`;

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
 * A page of jobs, newest first; `beforeSeq` is the cursor (exclusive). Empty filters match all.
 * `cand` takes, per status asked for, its newest `limit + 1` matching jobs' seqs (through that
 * status's partial index where there is one; through `jobs_seq_idx` otherwise). The recursive CTE
 * then steps down them one at a time, adding up each one's size (the JSON text of payload, result
 * and error), and stops at the first job that does not fit: past `limit` jobs or past `maxBytes`
 * (the first job always fits). That job is looked at, to know that more follow (`scanned` counts
 * it), but not returned, so no job past the page is ever sent.
 */
export const listJobRows = (
  sql: Db,
  schema: string,
  filter: { statuses: readonly string[]; types: readonly string[]; beforeSeq: string | null; limit: number; maxBytes: number },
) => {
  const types = filter.types.length > 0 ? sql`and j.type = any(${textArray(filter.types)}::text[])` : sql``;
  const before = filter.beforeSeq !== null ? sql`and j.seq < ${filter.beforeSeq}::bigint` : sql``;
  const arm = (status: ReturnType<Db>): ReturnType<Db> => sql`
    (select j.seq from ${sql(schema)}.jobs j where ${status} ${types} ${before} order by j.seq desc limit ${filter.limit + 1}::int)`;
  const statuses = [...new Set(filter.statuses)];
  const arms = statuses.length === 0 ? [arm(sql`true`)] : statuses.map((status) => arm(statusIs(sql, status)));
  const candidates = arms.reduce((all, next): ReturnType<Db> => sql`${all} union all ${next}`);
  const size = sql`(octet_length(coalesce(j.payload::text, '')) + octet_length(coalesce(j.result::text, '')) + octet_length(coalesce(j.error::text, '')))::bigint`;
  return sql<(JobRow & { scanned: number })[]>`
    with recursive cand as materialized (${candidates}),
    page (seq, n, total, in_page) as (
      (select j.seq, 1, ${size}, true
       from (select c.seq from cand c order by c.seq desc limit 1) first
       join ${sql(schema)}.jobs j on j.seq = first.seq)
      union all
      (select j.seq, p.n + 1, p.total + ${size}, p.n + 1 <= ${filter.limit}::int and p.total + ${size} <= ${filter.maxBytes}::bigint
       from page p
       cross join lateral (select c.seq from cand c where c.seq < p.seq order by c.seq desc limit 1) next
       join ${sql(schema)}.jobs j on j.seq = next.seq
       where p.in_page)
    )
    select ${jobColumns(sql, schema)}, (select count(*) from page)::int as scanned
    from page p join ${sql(schema)}.jobs j on j.seq = p.seq
    where p.in_page
    order by j.seq desc`;
};

export const countByStatusAndPriority = (sql: Db, schema: string) => sql<{ status: JobStatus; priority: number; count: string }[]>`
  select status, priority, count(*)::text as count from ${sql(schema)}.jobs group by status, priority`;

export const selectExpiredLeases = (sql: Db, schema: string, limit: number) => sql<JobRow[]>`
  select ${jobColumns(sql, schema)} from ${sql(schema)}.jobs j
  where j.status = 'running' and j.lease_expires_at <= now()
  order by j.lease_expires_at, j.seq
  limit ${limit}`;

// ---- claim -----------------------------------------------------------------------------------

/** A runnable job as the claim sees it, with the database's clock. */
export interface CandidateRow {
  readonly id: string;
  readonly priority: number;
  readonly run_at: Date;
  readonly seq: string;
  readonly resources: Record<string, number>;
  readonly db_now: Date;
}

const candidatesAt = (sql: Db, schema: string, priority: number, types: readonly string[], perLevel: number) => sql`
  select j.id, j.priority, j.run_at, j.seq, j.resources from ${sql(schema)}.jobs j
  where j.status = 'pending' and j.priority = ${priority} and j.run_at <= now() and j.type = any(${textArray(types)}::text[])
  order by j.run_at, j.seq
  limit ${perLevel}
  for update skip locked`;

/**
 * Claim candidates, locked: the oldest `perLevel` runnable jobs of each priority level. Within a
 * level the oldest are also the most promoted by the starvation guard, so these include the best
 * `perLevel` overall. Materialised so the planner cannot re-run the locking scans.
 */
export const lockClaimCandidates = (sql: Db, schema: string, types: readonly string[], perLevel: number) => sql<CandidateRow[]>`
  with p0 as materialized (${candidatesAt(sql, schema, 0, types, perLevel)}),
       p1 as materialized (${candidatesAt(sql, schema, 1, types, perLevel)}),
       p2 as materialized (${candidatesAt(sql, schema, 2, types, perLevel)}),
       p3 as materialized (${candidatesAt(sql, schema, 3, types, perLevel)})
  select c.id::text as id, c.priority, c.run_at, c.seq::text as seq, c.resources, now() as db_now
  from (select * from p0 union all select * from p1 union all select * from p2 union all select * from p3) c`;

/**
 * Leases the chosen jobs, locked as pending by `lockClaimCandidates` in the same transaction (so,
 * as in `claimRunnable`, through the primary key alone, with no status condition).
 */
export const leaseJobs = (sql: Db, schema: string, ids: readonly string[], workerId: string, leaseMs: number) => sql<JobRow[]>`
  update ${sql(schema)}.jobs j set
    status = 'running', attempt = j.attempt + 1, started_at = now(), updated_at = now(),
    lease_token = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => ${leaseMs}::float8 / 1000),
    worker_id = ${workerId}, cancel_requested = false, ${attemptOpened(sql, workerId)}
  where j.id = any(array${uuidList(sql, ids)})
  returning ${jobColumns(sql, schema)}`;

/** Whether a jobs row needs any resource (a positive amount of some unit); `c` is its alias. */
const needsResources = (sql: Db) => sql`jsonb_path_exists(c.resources, '$.* ? (@ > 0)')`;

/** A candidate's level after the starvation guard, on the database clock (mirrors `effectivePriority`). */
const effectiveLevel = (sql: Db, starvationMs: number) => sql`
  case when ${starvationMs}::float8 <= 0 or c.run_at >= now() then c.priority::int
       else greatest(0, c.priority - floor(extract(epoch from now() - c.run_at) * 1000 / ${starvationMs}::float8)::int) end`;

/** What `claimRunnable` reports: leased rows, and whether the candidates needed no admission in JS. */
export type ClaimRow = { readonly simple: boolean; readonly db_now: Date } & ({ readonly id: null } | JobRow);

/**
 * The whole claim in one statement when no candidate needs resources: lock the oldest `limit`
 * runnable jobs of each level, take the best `limit` by effective priority, lease them (opening
 * their attempt entries) and notify. When some candidate needs resources it leases nothing
 * and answers `simple: false` (its locks end with the statement); the caller then admits in JS.
 */
export const claimRunnable = (sql: Db, schema: string, channel: string, claim: ClaimParameters) => sql<ClaimRow[]>`${claimStatement(sql, schema, channel, claim)}`;

/** The plan of `claimRunnable`, for tests: the statement is not run. */
export const explainClaimRunnable = (sql: Db, schema: string, channel: string, claim: ClaimParameters) =>
  sql<{ "QUERY PLAN": string }[]>`explain ${claimStatement(sql, schema, channel, claim)}`;

/** What one claim asks for. */
export interface ClaimParameters {
  readonly types: readonly string[];
  readonly limit: number;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly starvationMs: number;
}

/**
 * The claim's statement. The chosen jobs are leased through the primary key alone: with stale
 * statistics (a burst of new jobs in a table of many retained finished ones, before autovacuum
 * analyzes it) the planner believes about one job is pending, and given any condition on `status`
 * it walked every pending job through the claim index for each chosen one (15 ms for a claim of 50
 * among 950 pending jobs instead of 0.3 ms). No status check is needed there: the candidate scans
 * locked these rows in this statement, re-checking `status = 'pending'` on the version they locked.
 */
const claimStatement = (sql: Db, schema: string, channel: string, claim: ClaimParameters) => sql`
  with p0 as materialized (${candidatesAt(sql, schema, 0, claim.types, claim.limit)}),
       p1 as materialized (${candidatesAt(sql, schema, 1, claim.types, claim.limit)}),
       p2 as materialized (${candidatesAt(sql, schema, 2, claim.types, claim.limit)}),
       p3 as materialized (${candidatesAt(sql, schema, 3, claim.types, claim.limit)}),
  cand as (select * from p0 union all select * from p1 union all select * from p2 union all select * from p3),
  gate as (select not exists (select 1 from cand c where ${needsResources(sql)}) as simple),
  chosen as (
    select c.id from cand c, gate g where g.simple
    order by ${effectiveLevel(sql, claim.starvationMs)}, c.run_at, c.seq
    limit ${claim.limit}
  ),
  leased as (
    update ${sql(schema)}.jobs j set
      status = 'running', attempt = j.attempt + 1, started_at = now(), updated_at = now(),
      lease_token = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => ${claim.leaseMs}::float8 / 1000),
      worker_id = ${claim.workerId}, cancel_requested = false, ${attemptOpened(sql, claim.workerId)}
    where j.id = any(array(select c.id from chosen c))
    returning ${jobFields(sql)}
  ),
  deps as (${dependenciesOf(sql, schema, sql`select l.id from leased l`)}),
  changed as (select l.seq::bigint as ord, l.id, l.type, l.status, l.attempt from leased l),
  ${notifiedChanges(sql, channel)}
  select g.simple, (select n from notified) as notified, now() as db_now, l.*, coalesce(dp.depends_on, '[]'::jsonb) as depends_on
  from gate g left join leased l on true left join deps dp on dp.job_id = l.id::uuid`;

// ---- leases ----------------------------------------------------------------------------------

/** A lease as the statements read it. */
export interface LeaseRow {
  readonly id: string;
  readonly token: string;
}

/** Extends the leases still held; a lease missing from the result is lost. */
export const extendLeases = (sql: Db, schema: string, leases: readonly LeaseRow[], leaseMs: number) =>
  sql<{ id: string; token: string; cancel_requested: boolean }[]>`
  update ${sql(schema)}.jobs j set lease_expires_at = now() + make_interval(secs => ${leaseMs}::float8 / 1000)
  from jsonb_to_recordset(${sql.json(leases as unknown as JsonDoc)}) as l(id uuid, token uuid)
  where j.id = l.id and j.lease_token = l.token and j.status = 'running'
  returning j.id::text as id, j.lease_token::text as token, j.cancel_requested`;

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

/** One settlement as the settle statement reads it. */
export interface SettlementRow {
  readonly ord: number;
  readonly id: string;
  readonly token: string;
  readonly kind: "completed" | "retry" | "failed" | "cancelled" | "interrupted";
  readonly result?: unknown;
  readonly error?: ErrorInfo;
  readonly run_at?: string;
}

/** A value as JSON text for a jsonb column (`null` for what JSON cannot hold, as `sql.json` would leave it out). */
const jsonText = (value: unknown): string => JSON.stringify(value) ?? "null";

/**
 * The settlements as rows `(ord, id, token, kind, result, error, run_at)`, each column sent as one
 * text array and unnested: a jsonb document of objects, taken apart by `jsonb_array_elements` and
 * `jsonb_to_record`, cost the settle several times as much per row. `result` is JSON text for a
 * completion (`null` when there is none) and SQL NULL otherwise; `error` likewise for an error.
 */
const settlementInput = (sql: Db, settlements: readonly SettlementRow[]) => {
  const column = (pick: (row: SettlementRow) => string | null) => sql`${textArray(settlements.map(pick))}::text[]`;
  return sql`
    select u.ord::int as ord, u.id::uuid as id, u.token::uuid as token, u.kind, u.result::jsonb as result, u.error::jsonb as error,
      u.run_at::timestamptz as run_at
    from unnest(${column((r) => String(r.ord))}, ${column((r) => r.id)}, ${column((r) => r.token)}, ${column((r) => r.kind)},
      ${column((r) => (r.kind === "completed" ? jsonText(r.result ?? null) : null))},
      ${column((r) => (r.error === undefined ? null : jsonText(r.error)))}, ${column((r) => r.run_at ?? null)})
      as u(ord, id, token, kind, result, error, run_at)`;
};

/**
 * Stores outcomes, each a compare-and-set on (id, lease token, running). A settlement that
 * matches no row lost its lease. Returns the settled rows with their settlement's `ord`.
 */
export const settleLeases = (sql: Db, schema: string, settlements: readonly SettlementRow[]) =>
  sql<(JobRow & { ord: number })[]>`
  with s as (${settlementInput(sql, settlements)})
  update ${sql(schema)}.jobs j set
    status = case s.kind when 'completed' then 'completed' when 'failed' then 'failed' when 'cancelled' then 'cancelled'
                         else 'pending' end,
    result = case when s.kind = 'completed' then coalesce(s.result, 'null'::jsonb) else j.result end,
    error = case when s.kind in ('retry', 'failed', 'cancelled') then s.error else j.error end,
    attempt = case when s.kind = 'interrupted' then greatest(j.attempt - 1, 0) else j.attempt end,
    run_at = case when s.kind = 'retry' then s.run_at else j.run_at end,
    finished_at = case when s.kind in ('completed', 'failed', 'cancelled') then now() else j.finished_at end,
    lease_token = null, lease_expires_at = null, worker_id = null, cancel_requested = false, updated_at = now(),
    ${attemptClosed(sql)}
  from s
  where j.id = s.id and j.lease_token = s.token and j.status = 'running'
  returning ${jobColumns(sql, schema)}, s.ord`;

/**
 * The SET of an unblock, for `jobs j` joined to `counts c` (completed dependencies per job): `c.n`
 * fewer unfinished dependencies; at zero the job is pending, runnable no earlier than now.
 */
const unblockAssignments = (sql: Db) => sql`
  pending_dependencies = greatest(j.pending_dependencies - c.n, 0),
  status = case when j.pending_dependencies - c.n <= 0 then 'pending' else 'blocked' end,
  run_at = case when j.pending_dependencies - c.n <= 0 then greatest(j.run_at, now()) else j.run_at end,
  updated_at = case when j.pending_dependencies - c.n <= 0 then now() else j.updated_at end,
  transitions = case when j.pending_dependencies - c.n <= 0
    then j.transitions || ${transitionEntry(sql, { from: sql`'blocked'::text`, to: sql`'pending'::text`, attempt: sql`j.attempt` })}
    else j.transitions end`;

/** A row of `settleAndUnblock`: a settled job (`kind` its outcome) or an unblocked one (`kind` = 'unblocked'). */
export type SettledRow = SettledJobRow | UnblockedRow;

/**
 * A settled job as `settleAndUnblock` reports it: what the settle changed (the rest of the row is as
 * the claim read it), `last_attempt` being the attempt entry it closed.
 */
export interface SettledJobRow {
  readonly kind: Exclude<SettlementRow["kind"], "failed" | "cancelled">;
  readonly ord: number;
  readonly id: string;
  readonly type: string;
  readonly status: JobStatus;
  readonly attempt: number;
  readonly result: Json | null;
  readonly error: ErrorInfo | null;
  readonly run_at: Date;
  readonly updated_at: Date;
  readonly finished_at: Date | null;
  readonly last_attempt: unknown;
}

/** A dependent that a completion of the batch unblocked (or brought closer to it: `status` still 'blocked'). */
export interface UnblockedRow {
  readonly kind: "unblocked";
  readonly ord: null;
  readonly id: string;
  readonly seq: string;
  readonly type: string;
  readonly status: JobStatus;
  readonly attempt: number;
  readonly depends_on: readonly string[];
}

/**
 * Stores outcomes that cascade nothing (completed, retry, interrupted), each a CAS on (id, lease
 * token, running), closing their attempt entries; unblocks the dependents of the completed ones
 * and notifies, all in one statement. Run it after `lockAffected` in the same transaction: its
 * snapshot must be taken after that lock waited out inserts adding edges to these jobs. Returns
 * what changed only (a whole job row is several times as much to send and to parse): the settled
 * jobs' changed columns with their settlement's `ord`, and the unblocked jobs' ids with their
 * dependencies (whom to credit).
 */
export const settleAndUnblock = (sql: Db, schema: string, channel: string, settlements: readonly SettlementRow[]) =>
  sql<SettledRow[]>`
  with s as (${settlementInput(sql, settlements)}),
  settled as (
    update ${sql(schema)}.jobs j set
      status = case s.kind when 'completed' then 'completed' else 'pending' end,
      result = case when s.kind = 'completed' then coalesce(s.result, 'null'::jsonb) else j.result end,
      error = case when s.kind = 'retry' then s.error else j.error end,
      attempt = case when s.kind = 'interrupted' then greatest(j.attempt - 1, 0) else j.attempt end,
      run_at = case when s.kind = 'retry' then s.run_at else j.run_at end,
      finished_at = case when s.kind = 'completed' then now() else j.finished_at end,
      lease_token = null, lease_expires_at = null, worker_id = null, cancel_requested = false, updated_at = now(),
      ${attemptClosed(sql)}
    from s
    where j.id = s.id and j.lease_token = s.token and j.status = 'running' and s.kind in ('completed', 'retry', 'interrupted')
    returning s.ord, s.kind, j.id::text as id, j.seq, j.type, j.status, j.attempt, case when s.kind = 'completed' then j.result end as result,
      j.error, j.run_at, j.updated_at, j.finished_at, j.attempts -> -1 as last_attempt
  ),
  counts as (
    select d.job_id, count(*)::int as n from ${sql(schema)}.job_dependencies d
    join settled t on d.depends_on_id = t.id::uuid and t.status = 'completed'
    group by d.job_id
  ),
  unblocked as (
    update ${sql(schema)}.jobs j set ${unblockAssignments(sql)}
    from counts c
    where j.id = c.job_id and j.status = 'blocked'
    returning j.id::text as id, j.seq, j.type, j.status, j.attempt
  ),
  deps as (${dependenciesOf(sql, schema, sql`select u.id from unblocked u`)}),
  changed as (
    select t.ord::bigint as ord, t.id, t.type, t.status, t.attempt from settled t
    union all
    select ${settlements.length} + row_number() over (order by u.seq), u.id, u.type, u.status, u.attempt
    from unblocked u where u.status = 'pending'
  ),
  ${notifiedChanges(sql, channel)}
  select t.kind, t.ord, t.id, null::text as seq, t.type, t.status, t.attempt, t.result, t.error, t.run_at, t.updated_at, t.finished_at,
    t.last_attempt, null::jsonb as depends_on, (select n from notified) as notified
  from settled t
  union all
  select 'unblocked', null, u.id, u.seq::text, u.type, u.status, u.attempt, null, null, null, null, null, null,
    coalesce(dp.depends_on, '[]'::jsonb), null
  from unblocked u left join deps dp on dp.job_id = u.id::uuid`;

// ---- graph -----------------------------------------------------------------------------------

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
 * Dependents of the completed jobs lose one unfinished dependency each; at zero they become
 * pending, no earlier than now. Must run as its own statement after the completions, so its
 * snapshot sees edges added by inserts that were waiting on the completed rows.
 */
export const unblockDependents = (sql: Db, schema: string, completedIds: readonly string[]) => sql<(ChangeRow & { depends_on: string[]; seq: string })[]>`
  with counts as (
    select d.job_id, count(*)::int as n from ${sql(schema)}.job_dependencies d
    where d.depends_on_id = any(array${uuidList(sql, completedIds)})
    group by d.job_id
  )
  update ${sql(schema)}.jobs j set ${unblockAssignments(sql)}
  from counts c
  where j.id = c.job_id and j.status = 'blocked'
  returning j.id::text as id, j.type, j.status, j.attempt, 'blocked' as previous, null::jsonb as error, j.seq::text as seq,
    to_jsonb(array(select d.depends_on_id::text from ${sql(schema)}.job_dependencies d where d.job_id = j.id)) as depends_on`;

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
    status = 'cancelled', finished_at = now(), updated_at = now(), cancel_cause = (e.doc->>'cause')::uuid, error = e.doc->'error',
    ${transitionAppended(sql, { from: sql`j.status`, to: sql`'cancelled'::text`, attempt: sql`j.attempt`, error: sql`e.doc->'error'` })}
  from jsonb_array_elements(${sql.json(victims as unknown as JsonDoc)}) as e(doc),
    ${sql(schema)}.jobs o
  where j.id = (e.doc->>'id')::uuid and o.id = j.id and j.status in ('blocked', 'pending')
  returning j.id::text as id, j.type, j.status, j.attempt, o.status as previous, j.error`;

// ---- cancel and retry ------------------------------------------------------------------------

/** Locks the jobs to cancel or retry and reads their status. */
export const lockJobsForChange = (sql: Db, schema: string, ids: readonly string[]) =>
  sql<{ id: string; type: string; status: JobStatus; attempt: number; idempotency_key: string | null; depends_on: string[] }[]>`
  select j.id::text as id, j.type, j.status, j.attempt, j.idempotency_key,
    to_jsonb(array(select d.depends_on_id::text from ${sql(schema)}.job_dependencies d where d.job_id = j.id order by d.position)) as depends_on
  from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)})
  order by j.id
  for no key update`;

/** Cancels blocked or pending jobs (a user's cancel: no error). */
export const cancelWaiting = (sql: Db, schema: string, ids: readonly string[]) => sql<ChangeRow[]>`
  update ${sql(schema)}.jobs j set status = 'cancelled', finished_at = now(), updated_at = now(), cancel_cause = null,
    ${transitionAppended(sql, { from: sql`j.status`, to: sql`'cancelled'::text`, attempt: sql`j.attempt` })}
  from (select j0.id, j0.status from ${sql(schema)}.jobs j0 where j0.id = any(array${uuidList(sql, ids)})) as o
  where j.id = o.id and j.status in ('blocked', 'pending')
  returning j.id::text as id, j.type, j.status, j.attempt, o.status as previous, null::jsonb as error`;

/** Asks running jobs to stop; their workers see it through the change feed or a heartbeat. */
export const requestCancel = (sql: Db, schema: string, ids: readonly string[]) =>
  sql<{ id: string; type: string; status: JobStatus; attempt: number }[]>`
  update ${sql(schema)}.jobs j set cancel_requested = true, updated_at = now()
  where j.id = any(array${uuidList(sql, ids)}) and j.status = 'running'
  returning j.id::text as id, j.type, j.status, j.attempt`;

/** A job below a retried one that a cascade cancelled, with what revival needs to know. */
export interface CascadedRow {
  readonly id: string;
  readonly cancel_cause: string;
  readonly idempotency_key: string | null;
  readonly depends_on: string[];
}

/** Jobs cancelled by a cascade, transitively below `rootId` through such jobs; locked. */
export const lockCascadedBelow = (sql: Db, schema: string, rootId: string) => sql<CascadedRow[]>`
  with recursive below(id) as (
    select d.job_id from ${sql(schema)}.job_dependencies d
    join ${sql(schema)}.jobs c on c.id = d.job_id and c.status = 'cancelled' and c.cancel_cause is not null
    where d.depends_on_id = ${rootId}::uuid
    union
    select x.job_id from below b ${dependentsStep(sql, schema, sql`c.status = 'cancelled' and c.cancel_cause is not null`)}
  )
  select j.id::text as id, j.cancel_cause::text as cancel_cause, j.idempotency_key,
    to_jsonb(array(select d.depends_on_id::text from ${sql(schema)}.job_dependencies d where d.job_id = j.id order by d.position)) as depends_on
  from ${sql(schema)}.jobs j where j.id = any(array(select id from below)) and j.status = 'cancelled'
  order by j.seq
  for no key update`;

/** Statuses of jobs, locked FOR SHARE so none of them settles before this transaction ends. */
export const lockStatuses = (sql: Db, schema: string, ids: readonly string[]) => sql<{ id: string; status: JobStatus }[]>`
  select j.id::text as id, j.status from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)}) for share`;

/** Makes a failed or cancelled job pending or blocked again, as `planRestart` decided, with a fresh attempt budget. */
export const restartJob = (sql: Db, schema: string, id: string, restart: { status: "pending" | "blocked"; unfinished: number }) => sql<JobRow[]>`
  update ${sql(schema)}.jobs j set
    status = ${restart.status}, attempt = 0, error = null, result = null, finished_at = null, started_at = null,
    run_at = now(), updated_at = now(), cancel_cause = null, cancel_requested = false, pending_dependencies = ${restart.unfinished},
    lease_token = null, lease_expires_at = null, worker_id = null,
    ${transitionAppended(sql, { from: sql`j.status`, to: sql`${restart.status}::text`, attempt: sql`0` })}
  where j.id = ${id}::uuid and j.status in ('failed', 'cancelled')
  returning ${jobColumns(sql, schema)}`;

/** One revived dependent and its count of unfinished dependencies. */
export interface RevivalRow {
  readonly id: string;
  readonly pending_dependencies: number;
}

export const reviveDependents = (sql: Db, schema: string, rows: readonly RevivalRow[]) => sql<ChangeRow[]>`
  update ${sql(schema)}.jobs j set
    status = 'blocked', error = null, finished_at = null, cancel_cause = null, updated_at = now(),
    pending_dependencies = r.pending_dependencies,
    ${transitionAppended(sql, { from: sql`'cancelled'::text`, to: sql`'blocked'::text`, attempt: sql`j.attempt` })}
  from jsonb_to_recordset(${sql.json(rows as unknown as JsonDoc)}) as r(id uuid, pending_dependencies int)
  where j.id = r.id and j.status = 'cancelled'
  returning j.id::text as id, j.type, j.status, j.attempt, 'cancelled' as previous, null::jsonb as error`;

/** A cascaded job that stays cancelled, now blamed on another broken dependency. */
export interface BlameRow {
  readonly id: string;
  readonly cause: string;
  readonly error: ErrorInfo;
}

export const reattributeCancellations = (sql: Db, schema: string, rows: readonly BlameRow[]) => sql`
  update ${sql(schema)}.jobs j set cancel_cause = (e.doc->>'cause')::uuid, error = e.doc->'error'
  from jsonb_array_elements(${sql.json(rows as unknown as JsonDoc)}) as e(doc)
  where j.id = (e.doc->>'id')::uuid and j.status = 'cancelled'`;

// ---- logs and notifications ------------------------------------------------------------------
/** A type name whose JSON text is longer than this travels as "" (the id is what matters). */
const MAX_TYPE_BYTES = 900;
/** Tuples per notification are cut at this running size, so a payload stays below PostgreSQL's 8000 bytes. */
const CHUNK_BYTES = 6500;

/**
 * CTEs over a CTE `changed(ord, id, type, status, attempt)` of one statement's status changes
 * (`id` as text): `notified` sends them, in `ord` order, as few notifications as fit (JSON arrays
 * of `[id, type, status, attempt]`), which go out only if the statement's transaction commits.
 * `notified` must be read by the statement to run. Each tuple is written by concatenation: an id
 * (a uuid's text), a status and an attempt count need no escaping, and only the type goes through
 * `to_json`; `json_build_array` cost about twice as much per tuple. A tuple is at most ~1,000 bytes,
 * so a chunk cut at a running size of 6,500 stays below the limit.
 */
const notifiedChanges = (sql: Db, channel: string) => sql`
  tuples as (
    select x.ord, '["' || x.id || '",' || case when octet_length(n.type) > ${MAX_TYPE_BYTES} then '""' else n.type end
      || ',"' || x.status || '",' || x.attempt || ']' as t
    from changed x cross join lateral (select to_json(x.type::text)::text as type) n
  ),
  chunks as (
    select t.ord, t.t, (sum(octet_length(t.t) + 1) over (order by t.ord rows between unbounded preceding and current row)) / ${CHUNK_BYTES} as chunk
    from tuples t
  ),
  notified as (
    select count(pg_notify(${channel}, p.payload)) as n
    from (select '[' || string_agg(c.t, ',' order by c.ord) || ']' as payload from chunks c group by c.chunk) p
  )`;

/** Starts listening on the change channel (on the feed's own connection). */
export const listen = (sql: Db, channel: string) => sql`listen ${sql(channel)}`;

/** Whether this session still listens on `channel`: the listen connection's health check. */
export const listeningOn = (sql: Db, channel: string) => sql<{ listening: boolean }[]>`
  select ${channel}::text = any(array(select pg_listening_channels())) as listening`;

/** Sends notifications (inside the transaction that made the changes: they go out if it commits). */
export const notifyChanges = (sql: Db, channel: string, notifications: readonly string[]) => sql`
  select pg_notify(${channel}, n) from jsonb_array_elements_text(${sql.json(notifications as JsonDoc)}) as n`;

/** One handler log line as the statement reads it. */
export interface LogLineRow {
  readonly job_id: string;
  readonly attempt: number;
  readonly at: string;
  readonly level: string;
  readonly message: string;
  readonly data?: unknown;
}

export const insertLogLines = (sql: Db, schema: string, lines: readonly LogLineRow[]) => sql`
  insert into ${sql(schema)}.job_logs (job_id, at, attempt, kind, level, message, data)
  select r.job_id, r.at, r.attempt, 'log', r.level, r.message, e.doc->'data'
  from jsonb_array_elements(${sql.json(lines as unknown as JsonDoc)}) with ordinality as e(doc, ord)
  cross join lateral jsonb_to_record(e.doc) as r(job_id uuid, at timestamptz, attempt int, level text, message text)
  order by e.ord`;

/** A job's history as `deriveJobLogs` reads it: the row's creation, attempts and transitions, and its handler lines in order. */
export interface HistoryRow {
  readonly created_at: Date;
  readonly attempts: unknown;
  readonly transitions: unknown;
  readonly lines: { at: string; attempt: number; level: string; message: string; data: unknown }[];
}

export const selectHistory = (sql: Db, schema: string, jobId: string) => sql<HistoryRow[]>`
  select j.created_at, j.attempts, j.transitions,
    coalesce((select json_agg(json_build_object('at', l.at, 'attempt', l.attempt, 'level', l.level, 'message', l.message, 'data', l.data) order by l.seq)
              from ${sql(schema)}.job_logs l where l.job_id = j.id and l.kind = 'log'), '[]'::json) as lines
  from ${sql(schema)}.jobs j where j.id = ${jobId}::uuid`;

/** Cutoffs per terminal status (null: keep that status) and the most jobs to delete. */
export interface RetentionRow {
  readonly completedBefore: Date | null;
  readonly failedBefore: Date | null;
  readonly cancelledBefore: Date | null;
  readonly limit: number;
}

/**
 * Deletes finished jobs older than their status's cutoff, oldest first, skipping rows another
 * transaction holds and jobs with a dependent still blocked, pending or running. Their history
 * goes with the row; their handler lines and edges through the foreign keys' `on delete cascade`.
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
        where d.depends_on_id = c.id and dependent.status in ('blocked', 'pending', 'running'))
    order by coalesce(c.finished_at, c.updated_at), c.seq
    limit ${r.limit}
    for update of c skip locked)`;

/** For EXPLAIN in tests and diagnostics: the plan of `liveKeyHolders`. */
export const explainLiveKeyHolders = (sql: Db, schema: string, keys: readonly string[]) => sql<{ "QUERY PLAN": string }[]>`
  explain ${liveKeyHolders(sql, schema, keys)}`;

/** For EXPLAIN in tests and diagnostics: the plan of a page of `listJobRows`. */
export const explainListJobRows = (sql: Db, schema: string, filter: Parameters<typeof listJobRows>[2]) => sql<{ "QUERY PLAN": string }[]>`
  explain ${listJobRows(sql, schema, filter)}`;

/** For EXPLAIN in tests and diagnostics: the plan of one claim-candidate scan. */
export const explainClaimCandidates = (sql: Db, schema: string, types: readonly string[], perLevel: number) => sql<{ "QUERY PLAN": string }[]>`
  explain ${candidatesAt(sql, schema, 2, types, perLevel)}`;
