import type { ErrorInfo, JobStatus, Json } from "../../../types.js";
import { textArray } from "../driver.js";
import type { JobRow } from "../rows.js";
import { dependenciesOf, jobColumns, jsonText, leaseStillRunning, statementTime, uuidList, type ChangeRow, type Db } from "./fragments.js";
import { attemptClosed, transitionEntry } from "./history.js";
import { notifiedChanges, type Notice } from "./notify.js";

// The statements of a settle: outcomes stored as a compare-and-set on the lease, and the unblock of
// the dependents of completed jobs.

/** One settlement as the settle statement reads it. */
export interface SettlementRow {
  readonly ord: number;
  readonly id: string;
  readonly token: string;
  /** The settle of a lease found expired: applies only if the lease is still expired (`Settlement.onlyIfExpired`). */
  readonly only_if_expired: boolean;
  readonly kind: "completed" | "retry" | "failed" | "cancelled" | "interrupted";
  readonly result?: unknown;
  readonly error?: ErrorInfo;
  readonly run_at?: string;
}

/**
 * The settlements as rows `(ord, id, token, kind, result, error, run_at, only_if_expired)`, each column sent as one
 * text array and unnested: a jsonb document of objects, taken apart by `jsonb_array_elements` and
 * `jsonb_to_record`, cost the settle several times as much per row. `result` is JSON text for a
 * completion (`null` when there is none) and SQL NULL otherwise; `error` likewise for an error.
 */
const settlementInput = (sql: Db, settlements: readonly SettlementRow[]) => {
  const column = (pick: (row: SettlementRow) => string | null) => sql`${textArray(settlements.map(pick))}::text[]`;
  return sql`
    select u.ord::int as ord, u.id::uuid as id, u.token::uuid as token, u.kind, u.result::jsonb as result, u.error::jsonb as error,
      u.run_at::timestamptz as run_at, u.only_if_expired is not null as only_if_expired
    from unnest(${column((r) => String(r.ord))}, ${column((r) => r.id)}, ${column((r) => r.token)}, ${column((r) => r.kind)},
      ${column((r) => (r.kind === "completed" ? jsonText(r.result ?? null) : null))},
      ${column((r) => (r.error === undefined ? null : jsonText(r.error)))}, ${column((r) => r.run_at ?? null)},
      ${column((r) => (r.only_if_expired ? "t" : null))})
      as u(ord, id, token, kind, result, error, run_at, only_if_expired)`;
};

/**
 * The compare-and-set of a settle, for `jobs j` joined to the settlements `s`: the lease is still the
 * one settled, and a lease found expired is still expired (a heartbeat may have renewed it since).
 */
const stillHeld = (sql: Db) => sql`
  j.lease_token = s.token and ${leaseStillRunning(sql)} and (not s.only_if_expired or j.lease_expires_at <= now())`;

/**
 * The SET of a settle, for `jobs j` joined to the settlements `s` (`settlementInput`): the outcome
 * `s.kind` decides the status, result, error, attempt count and run time; the lease is released and
 * the attempt entry closed.
 */
const settledAssignments = (sql: Db) => sql`
  status = case s.kind when 'completed' then 'completed' when 'failed' then 'failed' when 'cancelled' then 'cancelled'
                       else 'pending' end,
  result = case when s.kind = 'completed' then coalesce(s.result, 'null'::jsonb) else j.result end,
  error = case when s.kind in ('retry', 'failed', 'cancelled') then s.error else j.error end,
  attempt = case when s.kind = 'interrupted' then greatest(j.attempt - 1, 0) else j.attempt end,
  run_at = case when s.kind = 'retry' then s.run_at else j.run_at end,
  finished_at = case when s.kind in ('completed', 'failed', 'cancelled') then ${statementTime(sql)} else j.finished_at end,
  lease_token = null, lease_expires_at = null, worker_id = null, cancel_requested = false, updated_at = ${statementTime(sql)},
  ${attemptClosed(sql)}`;

/**
 * Stores outcomes, each a compare-and-set on the lease (`stillHeld`). A settlement that
 * matches no row lost its lease. Returns the settled rows with their settlement's `ord`.
 */
export const settleLeases = (sql: Db, schema: string, settlements: readonly SettlementRow[]) =>
  sql<(JobRow & { ord: number })[]>`
  with s as (${settlementInput(sql, settlements)})
  update ${sql(schema)}.jobs j set
    ${settledAssignments(sql)}
  from s
  where j.id = s.id and ${stillHeld(sql)}
  returning ${jobColumns(sql, schema)}, s.ord`;

/**
 * The SET of an unblock, for `jobs j` joined to `counts c` (completed dependencies per job): `c.n`
 * fewer unfinished dependencies; at zero the job is pending, runnable no earlier than now.
 */
const unblockAssignments = (sql: Db) => sql`
  pending_dependencies = greatest(j.pending_dependencies - c.n, 0),
  status = case when j.pending_dependencies - c.n <= 0 then 'pending' else 'blocked' end,
  run_at = case when j.pending_dependencies - c.n <= 0 then greatest(j.run_at, ${statementTime(sql)}) else j.run_at end,
  updated_at = case when j.pending_dependencies - c.n <= 0 then ${statementTime(sql)} else j.updated_at end,
  transitions = case when j.pending_dependencies - c.n <= 0
    then j.transitions || ${transitionEntry(sql, { from: sql`'blocked'::text`, to: sql`'pending'::text`, attempt: sql`j.attempt`, at: statementTime(sql) })}
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
 * Stores outcomes that cascade nothing (completed, retry, interrupted), each a CAS on the lease
 * (`stillHeld`), closing their attempt entries; unblocks the dependents of the completed ones
 * and notifies, all in one statement. Run it after `lockAffected` in the same transaction: its
 * snapshot must be taken after that lock waited out inserts adding edges to these jobs. Returns
 * what changed only (a whole job row is several times as much to send and to parse): the settled
 * jobs' changed columns with their settlement's `ord`, and the unblocked jobs' ids with their
 * dependencies (whom to credit). A retry or release of a job whose cancel was requested meanwhile
 * is stored as its cancel, which cascades: this statement leaves such a job as it is (it answers
 * no row), for `settleIn` to store.
 */
export const settleAndUnblock = (sql: Db, schema: string, notice: Notice, settlements: readonly SettlementRow[]) =>
  sql<SettledRow[]>`
  with s as (${settlementInput(sql, settlements)}),
  settled as (
    update ${sql(schema)}.jobs j set
      ${settledAssignments(sql)}
    from s
    where j.id = s.id and ${stillHeld(sql)} and s.kind in ('completed', 'retry', 'interrupted')
      and not (j.cancel_requested and s.kind in ('retry', 'interrupted'))
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
  ${notifiedChanges(sql, notice)}
  select t.kind, t.ord, t.id, null::text as seq, t.type, t.status, t.attempt, t.result, t.error, t.run_at, t.updated_at, t.finished_at,
    t.last_attempt, null::jsonb as depends_on, (select n from notified) as notified
  from settled t
  union all
  select 'unblocked', null, u.id, u.seq::text, u.type, u.status, u.attempt, null, null, null, null, null, null,
    coalesce(dp.depends_on, '[]'::jsonb), null
  from unblocked u left join deps dp on dp.job_id = u.id::uuid`;

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

/** Those of the jobs `ids` (held by the settle) whose cancel was requested while they ran. */
export const selectCancelRequested = (sql: Db, schema: string, ids: readonly string[]) => sql<{ id: string }[]>`
  select j.id::text as id from ${sql(schema)}.jobs j where j.id = any(array${uuidList(sql, ids)}) and j.cancel_requested`;
