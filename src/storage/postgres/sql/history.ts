import { statementTime, type Db } from "./fragments.js";

// A job's history in its row (schema generation 2): `attempts` gets an entry from the claim and has
// it closed by the settle; `transitions` gets one from every other statement that changes a status.
// These fragments are the SET items of those statements; `j` is the jobs row being updated, whose
// columns still read their values from before the update.

type Fragment = ReturnType<Db>;

/** `attempts` with the attempt that this claim starts (attempt count after it: `j.attempt + 1`). */
export const attemptOpened = (sql: Db, workerId: string) => sql`
  attempts = j.attempts || jsonb_build_array(jsonb_build_object('attempt', j.attempt + 1, 'startedAt', now(), 'workerId', ${workerId}::text))`;

/**
 * `attempts` with its last entry closed by the settlement `s` (`s.kind` is the outcome, `s.error`
 * its error, kept when it is one).
 */
export const attemptClosed = (sql: Db) => sql`
  attempts = case when jsonb_array_length(j.attempts) = 0 then j.attempts
    else jsonb_set(j.attempts, array[(jsonb_array_length(j.attempts) - 1)::text],
      (j.attempts -> -1) || jsonb_build_object('finishedAt', ${statementTime(sql)}, 'outcome', s.kind)
        || case when jsonb_typeof(s.error) = 'object' then jsonb_build_object('error', s.error) else '{}'::jsonb end) end`;

/**
 * One `transitions` entry: when (`at`, by default the transaction's time), from, to, the attempt count
 * after the change, and the error if it is one.
 */
export const transitionEntry = (sql: Db, change: { from: Fragment; to: Fragment; attempt: Fragment; error?: Fragment; at?: Fragment }) => sql`
  jsonb_build_array(jsonb_build_object('at', ${change.at ?? sql`now()`}, 'from', ${change.from}, 'to', ${change.to}, 'attempt', ${change.attempt})
    ${change.error === undefined ? sql`` : sql`|| case when jsonb_typeof(${change.error}) = 'object' then jsonb_build_object('error', ${change.error}) else '{}'::jsonb end`})`;

/** `transitions` with one more entry. */
export const transitionAppended = (sql: Db, change: { from: Fragment; to: Fragment; attempt: Fragment; error?: Fragment; at?: Fragment }) => sql`
  transitions = j.transitions || ${transitionEntry(sql, change)}`;

// ---- migration 4 -------------------------------------------------------------------------------

export const addHistoryColumns = (sql: Db, schema: string) => sql`
  alter table ${sql(schema)}.jobs
    add column attempts jsonb not null default '[]',
    add column transitions jsonb not null default '[]'`;

/**
 * Folds the status log rows into `attempts`: each `running` row opens an attempt, the next row that
 * leaves `running` closes it (a `pending` with an error was a retry, without one an interruption).
 */
export const foldStatusRowsIntoAttempts = (sql: Db, schema: string) => sql`
  with marks as (
    select l.job_id, l.seq, l.at, l.attempt, l.message, l.data->>'from' as src, l.data->'error' as error
    from ${sql(schema)}.job_logs l
    where l.kind = 'status' and (l.message = 'running' or l.data->>'from' = 'running')
  ),
  paired as (
    select m.*, lead(m.at) over w as end_at, lead(m.message) over w as end_status, lead(m.src) over w as end_src, lead(m.error) over w as end_error
    from marks m
    window w as (partition by m.job_id order by m.seq)
  ),
  folded as (
    select p.job_id, jsonb_agg(
      jsonb_build_object('attempt', p.attempt, 'startedAt', p.at)
      || case when p.end_src = 'running' then
           jsonb_build_object('finishedAt', p.end_at, 'outcome',
             case when p.end_status <> 'pending' then p.end_status
                  when jsonb_typeof(p.end_error) = 'object' then 'retry' else 'interrupted' end)
           || case when jsonb_typeof(p.end_error) = 'object' then jsonb_build_object('error', p.end_error) else '{}'::jsonb end
         else '{}'::jsonb end
      order by p.seq) as attempts
    from paired p
    where p.message = 'running'
    group by p.job_id
  )
  update ${sql(schema)}.jobs j set attempts = f.attempts from folded f where j.id = f.job_id`;

/** Folds every other status log row into `transitions`, but the creation of a job that started pending. */
export const foldStatusRowsIntoTransitions = (sql: Db, schema: string) => sql`
  with folded as (
    select l.job_id, jsonb_agg(
      jsonb_build_object('at', l.at, 'from', l.data->'from', 'to', l.message, 'attempt', l.attempt)
      || case when jsonb_typeof(l.data->'error') = 'object' then jsonb_build_object('error', l.data->'error') else '{}'::jsonb end
      order by l.seq) as transitions
    from ${sql(schema)}.job_logs l
    where l.kind = 'status' and l.message <> 'running' and coalesce(l.data->>'from', '') <> 'running'
      and not (jsonb_typeof(l.data->'from') is distinct from 'string' and l.message = 'pending')
    group by l.job_id
  )
  update ${sql(schema)}.jobs j set transitions = f.transitions from folded f where j.id = f.job_id`;

export const deleteStatusRows = (sql: Db, schema: string) => sql`delete from ${sql(schema)}.job_logs where kind = 'status'`;

/**
 * The listing indexes by status and by type go (every update of a job wrote an entry into both);
 * the statuses people look for get partial indexes, the others walk `seq` (completed, pending) or
 * are few (running, through the rescue index). The idempotency index leaves out keyless jobs.
 */
export const reindexForHistoryInRow = (sql: Db, schema: string) => [
  sql`drop index ${sql(schema)}.jobs_status_idx`,
  sql`drop index ${sql(schema)}.jobs_type_idx`,
  sql`drop index ${sql(schema)}.jobs_idempotency_idx`,
  sql`create unique index jobs_idempotency_idx on ${sql(schema)}.jobs (idempotency_key)
        where status in ('blocked', 'pending', 'running') and idempotency_key is not null`,
  sql`create index jobs_failed_idx on ${sql(schema)}.jobs (seq) where status = 'failed'`,
  sql`create index jobs_cancelled_idx on ${sql(schema)}.jobs (seq) where status = 'cancelled'`,
  sql`create index jobs_blocked_idx on ${sql(schema)}.jobs (seq) where status = 'blocked'`,
];
