import type { Db } from "./fragments.js";

// The tables and indexes of migrations 1 to 3 (4 is in history.ts, 5 in schedules.ts).

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
