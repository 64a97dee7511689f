import { textArray } from "../driver.js";
import type { ClaimedJobRow } from "../rows.js";
import { dependenciesOf, dependsOnColumn, jsonText, uuidList, type Db } from "./fragments.js";
import { attemptOpened } from "./history.js";
import { notifiedChanges, type Notice } from "./notify.js";

// The statements of a claim: the one-statement claim, and the locking scan and lease of a claim
// that admits in JS.

/** A runnable job as the claim sees it, with the database's clock. */
export interface CandidateRow {
  readonly id: string;
  readonly type: string;
  readonly attempt: number;
  readonly priority: number;
  readonly run_at: Date;
  readonly seq: string;
  readonly resources: Record<string, number>;
  readonly db_now: Date;
}

/**
 * The locking scan of one priority level: its oldest `perLevel` runnable jobs of `types`; with a
 * `capacity`, only those that fit it (see `exceedsCapacity`).
 */
export const candidatesAt = (sql: Db, schema: string, priority: number, types: readonly string[], perLevel: number, capacity?: Record<string, number>) => sql`
  select j.id, j.type, j.attempt, j.priority, j.run_at, j.seq, j.resources from ${sql(schema)}.jobs j
  where j.status = 'pending' and j.priority = ${priority} and j.run_at <= now() and j.type = any(${textArray(types)}::text[])
    ${capacity === undefined ? sql`` : sql`and not ${exceedsCapacity(sql, capacity)}`}
  order by j.run_at, j.seq
  limit ${perLevel}
  for update skip locked`;

/**
 * Whether the job `j` needs more of some unit than the whole `capacity`, by more than the millionth
 * `fits` rounds to (a job within it is left to `admitJobs`, which decides as the enqueue's check
 * did): this worker can never run it. Left out of the resources path's candidate scan: such jobs at
 * the head of a level took its whole window, and nothing behind them was ever admitted. Resources
 * that are not an object (written by hand) name no unit here, as `Object.entries` reads them.
 */
const exceedsCapacity = (sql: Db, capacity: Record<string, number>) => sql`
  exists (select 1 from jsonb_each(case when jsonb_typeof(j.resources) = 'object' then j.resources else '{}'::jsonb end) r
          where jsonb_typeof(r.value) = 'number'
            and (r.value)::numeric > coalesce((${jsonText(capacity)}::text::jsonb ->> r.key)::numeric, 0) + 0.000001)`;

/** The oldest `perLevel` runnable jobs of `types` at one priority level, not locked. */
const runnableAt = (sql: Db, schema: string, priority: number, types: readonly string[], perLevel: number) => sql`
  (select w.id, w.resources from ${sql(schema)}.jobs w
   where w.status = 'pending' and w.priority = ${priority} and w.run_at <= now() and w.type = any(${textArray(types)}::text[])
   order by w.run_at, w.seq
   limit ${perLevel})`;

/**
 * Those of the oldest `perLevel` runnable jobs of `types` of each priority level that need more
 * than the whole `capacity`, not locked: the claim reports them unschedulable. Bounded per level,
 * as the candidate scan is, however many jobs wait at any level.
 */
export const selectBeyondCapacity = (sql: Db, schema: string, types: readonly string[], capacity: Record<string, number>, perLevel: number) => sql<{ id: string }[]>`
  select j.id::text as id from (
    ${runnableAt(sql, schema, 0, types, perLevel)} union all ${runnableAt(sql, schema, 1, types, perLevel)}
    union all ${runnableAt(sql, schema, 2, types, perLevel)} union all ${runnableAt(sql, schema, 3, types, perLevel)}) j
  where ${exceedsCapacity(sql, capacity)}`;

/**
 * How many delayed jobs of one priority level the look-ahead reads at most, whatever their type: an
 * idle worker next to many jobs of other types due later would otherwise read them all at every
 * claim. Beyond them it answers none, and the poll takes over.
 */
export const DUE_LATER_LOOKAHEAD = 100;

/** The run time of the earliest pending job of `types` at one priority level that is not yet due, among the next `DUE_LATER_LOOKAHEAD` (the claim index's order). */
const dueLaterAt = (sql: Db, schema: string, priority: number, types: readonly string[]) => sql`
  (select x.run_at from (
     select d.run_at, d.type from ${sql(schema)}.jobs d
     where d.status = 'pending' and d.priority = ${priority} and d.run_at > now()
     order by d.run_at limit ${DUE_LATER_LOOKAHEAD}) x
   where x.type = any(${textArray(types)}::text[])
   order by x.run_at limit 1)`;

/** Milliseconds until the earliest pending job of `types` that is not yet due becomes due, by the database's clock; null when none. */
const nextDueInMs = (sql: Db, schema: string, types: readonly string[]) => sql`
  (extract(epoch from least(${dueLaterAt(sql, schema, 0, types)}, ${dueLaterAt(sql, schema, 1, types)},
    ${dueLaterAt(sql, schema, 2, types)}, ${dueLaterAt(sql, schema, 3, types)}) - now()) * 1000)::float8`;

/** `nextDueInMs` on its own: for a claim that admitted in JS and leased fewer than it could. */
export const selectNextDue = (sql: Db, schema: string, types: readonly string[]) => sql<{ next_due_ms: number | null }[]>`
  select ${nextDueInMs(sql, schema, types)} as next_due_ms`;

/**
 * Claim candidates, locked: the oldest `perLevel` runnable jobs of each priority level. Within a
 * level the oldest are also the most promoted by the starvation guard, so these include the best
 * `perLevel` overall. Materialised so the planner cannot re-run the locking scans.
 */
export const lockClaimCandidates = (sql: Db, schema: string, types: readonly string[], perLevel: number, capacity: Record<string, number>) => sql<CandidateRow[]>`
  with p0 as materialized (${candidatesAt(sql, schema, 0, types, perLevel, capacity)}),
       p1 as materialized (${candidatesAt(sql, schema, 1, types, perLevel, capacity)}),
       p2 as materialized (${candidatesAt(sql, schema, 2, types, perLevel, capacity)}),
       p3 as materialized (${candidatesAt(sql, schema, 3, types, perLevel, capacity)})
  select c.id::text as id, c.type, c.attempt, c.priority, c.run_at, c.seq::text as seq, c.resources, now() as db_now
  from (select * from p0 union all select * from p1 union all select * from p2 union all select * from p3) c`;

/** The SET of a lease, for `jobs j`: running under a new token until `leaseMs` from now, its attempt entry opened. */
const leasedAssignments = (sql: Db, workerId: string, leaseMs: number) => sql`
  status = 'running', attempt = j.attempt + 1, started_at = now(), updated_at = now(),
  lease_token = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => ${leaseMs}::float8 / 1000),
  worker_id = ${workerId}, cancel_requested = false, ${attemptOpened(sql, workerId)}`;

/**
 * The columns of a job row that a claim reports (`ClaimedJobRow`); `j` is the jobs alias. What the
 * lease itself sets (status, update time, cancel request, expiry, the attempt entry it opened) is
 * left out, and so is the result, which a running job's record does not show.
 */
const claimedJobFields = (sql: Db) => sql`
  j.id::text as id, j.type, j.priority, j.payload, j.error, j.attempt, j.max_attempts, j.backoff, j.idempotency_key, j.resources,
  j.timeout_ms, j.run_at, j.created_at, j.started_at, j.finished_at, j.lease_token::text as lease_token, j.attempts - -1 as earlier_attempts`;

/**
 * Leases the chosen jobs, locked as pending by `lockClaimCandidates` in the same transaction (so,
 * as in `claimRunnable`, through the primary key alone, with no status condition).
 */
export const leaseJobs = (sql: Db, schema: string, ids: readonly string[], workerId: string, leaseMs: number) => sql<ClaimedJobRow[]>`
  update ${sql(schema)}.jobs j set
    ${leasedAssignments(sql, workerId, leaseMs)}
  where j.id = any(array${uuidList(sql, ids)})
  returning ${claimedJobFields(sql)}, ${dependsOnColumn(sql, schema)}`;

/** Whether a jobs row needs any resource (a positive amount of some unit); `c` is its alias. */
const needsResources = (sql: Db) => sql`jsonb_path_exists(c.resources, '$.* ? (@ > 0)')`;

/**
 * A candidate's level after the starvation guard, on the database clock (mirrors `effectivePriority`).
 * The levels it climbs are capped at its own before the cast to int: a job waiting since 1970, or for
 * weeks with a `starvationMs` of 1, climbs more than an int holds, and the cast's overflow failed the
 * whole claim, for every type of the worker, at every poll.
 */
const effectiveLevel = (sql: Db, starvationMs: number) => sql`
  case when ${starvationMs}::float8 <= 0 or c.run_at >= now() then c.priority::int
       else greatest(0, c.priority - least(c.priority::float8, floor(extract(epoch from now() - c.run_at) * 1000 / ${starvationMs}::float8))::int) end`;

/**
 * What `claimRunnable` reports: leased rows, in the order they were chosen (effective priority level,
 * then run time, then creation), and whether the candidates needed no admission in JS.
 */
export type ClaimRow = {
  readonly simple: boolean;
  /** On the first row only: the pending changes the statement announced for rows it locked and left, as `[id, type, attempt]`. */
  readonly left_over: readonly (readonly [string, string, number])[] | null;
  /** On the first row only, when it leased fewer than `limit`: see `ClaimResult.nextDueInMs`. */
  readonly next_due_ms: number | null;
} & ({ readonly id: null } | ClaimedJobRow);

/**
 * The whole claim in one statement when no candidate needs resources: lock the oldest `limit`
 * runnable jobs of each level, take the best `limit` by effective priority, lease them (opening
 * their attempt entries) and notify. The candidates it locked and did not lease were skipped by any
 * claim that ran meanwhile, and go back to pending with nothing else to say so: one of each type is
 * announced as pending, so an idle worker claims them at once rather than at its next poll (the
 * first row's `left_over` lists them, for this store's own subscribers). A claim that leased fewer
 * than `limit` also says when the next job not yet due will be (the first row's `next_due_ms`).
 * When some candidate needs resources it leases nothing and answers `simple: false` (its locks end
 * with the statement); the caller then admits in JS.
 */
export const claimRunnable = (sql: Db, schema: string, notice: Notice, claim: ClaimParameters) => sql<ClaimRow[]>`${claimStatement(sql, schema, notice, claim)}`;

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
const claimStatement = (sql: Db, schema: string, notice: Notice, claim: ClaimParameters) => sql`
  with p0 as materialized (${candidatesAt(sql, schema, 0, claim.types, claim.limit)}),
       p1 as materialized (${candidatesAt(sql, schema, 1, claim.types, claim.limit)}),
       p2 as materialized (${candidatesAt(sql, schema, 2, claim.types, claim.limit)}),
       p3 as materialized (${candidatesAt(sql, schema, 3, claim.types, claim.limit)}),
  cand as (select * from p0 union all select * from p1 union all select * from p2 union all select * from p3),
  gate as (select not exists (select 1 from cand c where ${needsResources(sql)}) as simple),
  chosen as (
    select c.id, ${effectiveLevel(sql, claim.starvationMs)} as level, c.run_at, c.seq from cand c, gate g where g.simple
    order by level, c.run_at, c.seq
    limit ${claim.limit}
  ),
  leased as (
    update ${sql(schema)}.jobs j set
      ${leasedAssignments(sql, claim.workerId, claim.leaseMs)}
    where j.id = any(array(select c.id from chosen c))
    returning ${claimedJobFields(sql)}
  ),
  deps as (${dependenciesOf(sql, schema, sql`select l.id from leased l`)}),
  left_over as (
    select distinct on (c.type) c.seq, c.id::text as id, c.type, c.attempt from cand c, gate g
    where g.simple and not exists (select 1 from chosen ch where ch.id = c.id)
    order by c.type, c.run_at, c.seq
  ),
  changed as (
    select ch.seq as ord, l.id, l.type, 'running'::text as status, l.attempt from leased l join chosen ch on ch.id = l.id::uuid
    union all
    select o.seq, o.id, o.type, 'pending'::text, o.attempt from left_over o
  ),
  ${notifiedChanges(sql, notice)}
  select g.simple, (select n from notified) as notified,
    case when row_number() over (order by ch.level, ch.run_at, ch.seq) = 1
      then (select json_agg(json_build_array(o.id, o.type, o.attempt)) from left_over o) end as left_over,
    case when row_number() over (order by ch.level, ch.run_at, ch.seq) = 1 and g.simple and (select count(*) from leased) < ${claim.limit}
      then ${nextDueInMs(sql, schema, claim.types)} end as next_due_ms,
    l.*, coalesce(dp.depends_on, '[]'::jsonb) as depends_on
  from gate g left join leased l on true left join chosen ch on ch.id = l.id::uuid left join deps dp on dp.job_id = l.id::uuid
  order by ch.level, ch.run_at, ch.seq`;
