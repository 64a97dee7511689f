import { assertNever } from "../../assert-never.js";
import { isJobId } from "../../dag.js";
import { DuplicateJobError, UnknownDependencyError, ValidationError } from "../../errors.js";
import { admitJobs, effectivePriority } from "../../resources.js";
import { LIVE_STATUSES, PRIORITIES } from "../../types.js";
import type { ErrorInfo, JobId, JobStatus } from "../../types.js";
import type { ClaimRequest, ClaimResult, InsertRequest, InsertResult, InsertedJob, Outcome, SettleResult, Settlement } from "../storage.js";
import { dependencyError } from "../../cascade.js";
import { cascadeIn } from "./cascade.js";
import { ChangeSet, type Done } from "./change-set.js";
import { toJson } from "../to-json.js";
import type { Pipeline } from "./pipelined.js";
import { priorityOf, settledRecord, toJobRecord, toLease, type JobRow, type StoredChange } from "./rows.js";
import { type ClaimRow, claimRunnable, leaseJobs, lockClaimCandidates } from "./sql/claim.js";
import type { Db } from "./sql/fragments.js";
import { type EdgeRow, insertEdges, type InsertedRow, insertJobRows, insertRunnableJobs, type JobInsertRow, liveKeyHolders, lockExistingJobs } from "./sql/insert.js";
import { lockAffected } from "./sql/lock-affected.js";
import { selectJobs } from "./sql/reads.js";
import { settleAndUnblock, type SettledJobRow, settleLeases, type SettlementRow, unblockDependents, type UnblockedRow } from "./sql/settle.js";

export type { Published } from "./change-set.js";

/** A live idempotency key was taken by a concurrent insert after we looked: plan again. */
export class InsertRace extends Error {}

const LIVE: ReadonlySet<JobStatus> = new Set(LIVE_STATUSES);
const BROKEN: ReadonlySet<JobStatus> = new Set(["failed", "cancelled"]);

/**
 * A batch of jobs without dependencies, inserted as one statement: no stored job can affect their
 * status. Answers undefined when the insert needs planning under locks instead: a live idempotency
 * key (or several keys in one batch, which must not half-succeed), or an id that already exists.
 */
export async function insertSimple(sql: Db, schema: string, channel: string, request: InsertRequest): Promise<Done<InsertResult> | undefined> {
  const { jobs } = request;
  const keyed = jobs.filter((job) => job.idempotencyKey !== undefined).length;
  if (jobs.some((job) => job.dependsOn.length > 0) || (keyed > 0 && jobs.length > 1)) return undefined;
  if (new Set(jobs.map((job) => job.id)).size !== jobs.length || !jobs.every((job) => isUuid(job.id))) return undefined;
  const rows = jobs.map((node): JobInsertRow => ({
    id: node.id, type: node.type, status: "pending", priority: PRIORITIES.indexOf(node.priority), payload: node.payload,
    max_attempts: node.maxAttempts, backoff: node.backoff, idempotency_key: node.idempotencyKey ?? null, resources: node.resources,
    timeout_ms: node.timeoutMs ?? null, run_at: node.runAt.toISOString(), pending_dependencies: 0, error: null, cancel_cause: null,
  }));
  let inserted: InsertedRow[];
  try {
    inserted = await insertRunnableJobs(sql, schema, channel, rows);
  } catch (err) {
    // An id that exists already: the planned insert reports it properly.
    if ((err as { code?: unknown }).code === "23505") return undefined;
    throw err;
  }
  if (inserted.length !== jobs.length) return undefined;
  const byId = new Map(inserted.map((row) => [row.id, row]));
  const records = jobs.map((job): InsertedJob => {
    const row = byId.get(job.id.toLowerCase());
    if (row === undefined) throw new Error(`job ${job.id} vanished during its insert`);
    return {
      type: "inserted",
      job: {
        // The payload as jsonb keeps it: what JSON makes of it (dates as strings, no undefined members).
        id: row.id, type: job.type, status: "pending", priority: job.priority, payload: toJson(job.payload), result: undefined,
        error: undefined, attempt: 0, maxAttempts: job.maxAttempts, backoff: { ...job.backoff }, dependsOn: [],
        idempotencyKey: job.idempotencyKey, resources: { ...job.resources }, timeoutMs: job.timeoutMs, runAt: row.run_at,
        createdAt: row.created_at, updatedAt: row.updated_at, startedAt: undefined, finishedAt: undefined, attempts: [],
      },
    };
  });
  const changes = records.map(({ job }) => ({ id: job.id, type: job.type, status: job.status, attempt: 0 }));
  return { value: { jobs: records }, changes };
}

/** Inserts a batch inside `sql` (a transaction or savepoint): plan under locks, then a few set-based statements. */
export async function insertIn(sql: Db, schema: string, channel: string, request: InsertRequest): Promise<Done<InsertResult>> {
  const { jobs, onDuplicate } = request;
  const batchIds = new Set(jobs.map((job) => job.id));
  if (batchIds.size !== jobs.length) throw new ValidationError("a job id appears twice in the batch");
  const malformed = jobs.find((job) => !isUuid(job.id));
  if (malformed !== undefined) throw new ValidationError(`job id is not a UUID: ${malformed.id}`);
  const referenced = [...new Set(jobs.flatMap((job) => job.dependsOn))].filter((id) => !batchIds.has(id));
  const lookup = [...referenced, ...batchIds].filter(isUuid);
  const stored = new Map((await lockExistingJobs(sql, schema, lookup)).map((row) => [row.id, row.status]));
  for (const id of batchIds) if (stored.has(id)) throw new ValidationError(`job id already exists: ${id}`);

  const keys = [...new Set(jobs.flatMap((job) => (job.idempotencyKey === undefined ? [] : [job.idempotencyKey])))];
  const holders = new Map<string, { id: JobId; status: JobStatus }>();
  if (keys.length > 0) {
    for (const row of await liveKeyHolders(sql, schema, keys)) {
      holders.set(row.idempotency_key, { id: row.id, status: row.status });
      stored.set(row.id, row.status);
    }
  }

  const planned = new Map<JobId, JobStatus>();
  const replacedBy = new Map<JobId, JobId>();
  const batchKeys = new Map<string, { id: JobId; status: JobStatus }>();
  const statusOf = (id: JobId) => planned.get(id) ?? stored.get(id);
  const results: { type: InsertedJob["type"]; id: JobId }[] = [];
  const rows: JobInsertRow[] = [];
  const edges: EdgeRow[] = [];
  const changes = new ChangeSet();

  for (const node of jobs) {
    const dependsOn = [...new Set(node.dependsOn.map((id) => replacedBy.get(id) ?? id))];
    for (const id of dependsOn) if (statusOf(id) === undefined && !batchIds.has(id)) throw new UnknownDependencyError(id, node.id);
    const key = node.idempotencyKey;
    const holder = key === undefined ? undefined : (batchKeys.get(key) ?? holders.get(key));
    if (key !== undefined && holder !== undefined) {
      if (onDuplicate === "reject") throw new DuplicateJobError(holder.id, holder.status, key);
      replacedBy.set(node.id, holder.id);
      results.push({ type: "existing", id: holder.id });
      continue;
    }
    let unfinished = 0;
    let broken: { id: JobId; status: JobStatus } | undefined;
    for (const id of dependsOn) {
      const status = statusOf(id);
      if (status !== undefined && BROKEN.has(status)) broken ??= { id, status };
      if (status !== "completed") unfinished++;
    }
    const status: JobStatus = broken !== undefined ? "cancelled" : unfinished > 0 ? "blocked" : "pending";
    const error: ErrorInfo | null = broken === undefined ? null : dependencyError(broken.id, broken.status);
    rows.push({
      id: node.id, type: node.type, status, priority: PRIORITIES.indexOf(node.priority), payload: node.payload,
      max_attempts: node.maxAttempts, backoff: node.backoff, idempotency_key: key ?? null, resources: node.resources,
      timeout_ms: node.timeoutMs ?? null, run_at: node.runAt.toISOString(), pending_dependencies: broken ? 0 : unfinished,
      error, cancel_cause: broken?.id ?? null,
    });
    dependsOn.forEach((id, position) => edges.push({ job_id: node.id, depends_on_id: id, position }));
    planned.set(node.id, status);
    if (key !== undefined && LIVE.has(status)) batchKeys.set(key, { id: node.id, status });
    results.push({ type: "inserted", id: node.id });
    changes.status({ id: node.id, type: node.type, status, attempt: 0 });
  }

  if (rows.length > 0) {
    const inserted = await insertJobRows(sql, schema, rows);
    if (inserted.length !== rows.length) throw new InsertRace("an idempotency key was taken concurrently");
  }
  if (edges.length > 0) await insertEdges(sql, schema, edges);
  const published = await changes.record(sql, channel);
  const records = new Map((await selectJobs(sql, schema, [...new Set(results.map((r) => r.id))])).map((row) => [row.id, toJobRecord(row)]));
  return {
    value: {
      jobs: results.map(({ type, id }): InsertedJob => {
        const job = records.get(id);
        if (job === undefined) throw new Error(`job ${id} vanished during its insert`);
        return { type, job };
      }),
    },
    changes: published,
  };
}

/**
 * The claim as one statement, for candidates that need no resources (admission is then plain
 * effective-priority order). Answers undefined when some candidate needs resources: the caller
 * then claims with `claimIn`, which admits in JS.
 */
export async function claimSimple(sql: Db, schema: string, channel: string, request: ClaimRequest): Promise<Done<ClaimResult> | undefined> {
  const rows = await claimRunnable(sql, schema, channel, {
    types: request.types, limit: request.limit, workerId: request.workerId, leaseMs: request.leaseMs, starvationMs: request.starvationMs,
  });
  if (rows[0]?.simple !== true) return undefined;
  const leased = rows.filter((row): row is ClaimRow & JobRow => row.id !== null);
  const rank = (row: JobRow & { db_now: Date }) => effectivePriority(priorityOf(row.priority), row.run_at, row.db_now, request.starvationMs);
  const ordered = leased
    .map((row) => ({ row, level: rank(row) }))
    .sort((a, b) => a.level - b.level || a.row.run_at.getTime() - b.row.run_at.getTime() || Number(a.row.seq) - Number(b.row.seq))
    .map(({ row }) => row);
  return {
    value: { claimed: ordered.map((row) => ({ job: toJobRecord(row), lease: toLease(row) })), unschedulable: [] },
    changes: ordered.map((row) => ({ id: row.id, type: row.type, status: row.status, attempt: row.attempt })),
  };
}

/** Locks candidates, lets `admitJobs` choose on the database clock, and leases the chosen ones. */
export async function claimIn(sql: Db, schema: string, channel: string, request: ClaimRequest, perLevel: number): Promise<Done<ClaimResult>> {
  const candidates = await lockClaimCandidates(sql, schema, request.types, perLevel);
  const first = candidates[0];
  if (first === undefined) return { value: { claimed: [], unschedulable: [] }, changes: [] };
  const admission = admitJobs(
    candidates.map((row) => ({ id: row.id, priority: priorityOf(row.priority), runAt: row.run_at, seq: Number(row.seq), resources: row.resources })),
    { slots: request.limit, free: request.free, capacity: request.capacity, starvationMs: request.starvationMs, now: first.db_now },
  );
  if (admission.admitted.length === 0) return { value: { claimed: [], unschedulable: admission.unschedulable }, changes: [] };
  const leased = new Map((await leaseJobs(sql, schema, admission.admitted, request.workerId, request.leaseMs)).map((row) => [row.id, row]));
  const changes = new ChangeSet();
  const claimed = admission.admitted.flatMap((id) => {
    const row = leased.get(id);
    if (row === undefined) return [];
    changes.status(row);
    return [{ job: toJobRecord(row), lease: toLease(row) }];
  });
  return { value: { claimed, unschedulable: admission.unschedulable }, changes: await changes.record(sql, channel) };
}

/** Outcomes that cancel no dependents: such a batch settles in one statement after its locks. */
const SIMPLE_OUTCOMES: ReadonlySet<Outcome["type"]> = new Set(["completed", "retry", "interrupted"]);

/** Whether every outcome of the batch is one that `settleSimply` stores. */
export function settlesSimply(settlements: readonly Settlement[]): boolean {
  return settlements.every(({ outcome }) => SIMPLE_OUTCOMES.has(outcome.type));
}

/**
 * A batch of outcomes that cancel nothing, as statements to run in order in one transaction: lock
 * what it may change in id order, then settle, unblock and notify in one statement. The settle
 * reports only what it changed; a settlement that does not carry its job as claimed has the whole
 * row read back by a third statement.
 */
export function settleSimply(sql: Db, schema: string, channel: string, settlements: readonly Settlement[]): Pipeline<Done<SettleResult[]>> {
  const rows = settlementRows(settlements);
  const lock = lockAffected(sql, schema, {
    named: rows.map((row) => row.id),
    unblocking: rows.filter((row) => row.kind === "completed").map((row) => row.id),
    cascading: [],
  });
  const settle = settleAndUnblock(sql, schema, channel, rows);
  const unknown = settlements.filter((settlement) => settlement.job === undefined).map(({ lease }) => lease.jobId).filter(isUuid);
  const statements = unknown.length === 0 ? [lock, settle] : [lock, settle, selectJobs(sql, schema, unknown)];
  return {
    statements: statements as unknown as Pipeline<Done<SettleResult[]>>["statements"],
    finish: (results) => {
      const changed = (results[1] ?? []) as unknown as Awaited<ReturnType<typeof settleAndUnblock>>;
      const readBack = new Map(((results[2] ?? []) as unknown as JobRow[]).map((row) => [row.id, row]));
      const settled = changed.filter((row): row is SettledJobRow => row.kind !== "unblocked");
      const unblocked = bySeq(changed.filter((row): row is UnblockedRow => row.kind === "unblocked" && row.status === "pending"));
      const changes: StoredChange[] = [...settled, ...unblocked].map((row) => ({ id: row.id, type: row.type, status: row.status, attempt: row.attempt }));
      const ordOf = new Map(settled.filter((row) => row.status === "completed").map((row) => [row.id, row.ord]));
      const unblockedBy = new Map<number, JobId[]>();
      for (const row of unblocked) {
        // Credited to the last completion in the batch that it waited for, as if settled one by one.
        const ord = Math.max(...row.depends_on.map((id) => ordOf.get(id) ?? -1));
        unblockedBy.set(ord, [...(unblockedBy.get(ord) ?? []), row.id]);
      }
      const byOrd = new Map(settled.map((row) => [row.ord, row]));
      const value = settlements.map(({ lease, job }, ord): SettleResult => {
        const row = byOrd.get(ord);
        const whole = readBack.get(lease.jobId.toLowerCase());
        if (row === undefined || (job === undefined && whole === undefined)) return { type: "lost", jobId: lease.jobId };
        const record = job === undefined ? toJobRecord(whole as JobRow) : settledRecord(job, row);
        return { type: "settled", job: record, unblocked: unblockedBy.get(ord) ?? [], cancelled: [] };
      });
      return { value, changes };
    },
  };
}

/** Stores outcomes (CAS on the lease), then unblocks and cascades, each a statement for the whole batch. */
export async function settleIn(sql: Db, schema: string, channel: string, settlements: readonly Settlement[]): Promise<Done<SettleResult[]>> {
  if (settlesSimply(settlements)) {
    const { statements, finish } = settleSimply(sql, schema, channel, settlements);
    const results = [];
    for (const statement of statements) results.push(await statement);
    return finish(results);
  }
  const wellFormed = settlementRows(settlements);
  await lockAffected(sql, schema, {
    named: wellFormed.map((row) => row.id),
    unblocking: wellFormed.filter((row) => row.kind === "completed").map((row) => row.id),
    cascading: wellFormed.filter((row) => row.kind === "failed" || row.kind === "cancelled").map((row) => row.id),
  });
  const settled = await settleLeases(sql, schema, wellFormed);
  const byOrd = new Map(settled.map((row) => [row.ord, row]));
  const changes = new ChangeSet();
  for (const row of settled) changes.status(row);

  const completed = settled.filter((row) => row.status === "completed");
  const unblockedBy = new Map<number, JobId[]>();
  if (completed.length > 0) {
    const ordOf = new Map(completed.map((row) => [row.id, row.ord]));
    for (const row of bySeq(await unblockDependents(sql, schema, completed.map((r) => r.id)))) {
      if (row.status !== "pending") continue;
      changes.status(row);
      // Credited to the last completion in the batch that it waited for, as if settled one by one.
      const ord = Math.max(...row.depends_on.map((id) => ordOf.get(id) ?? -1));
      unblockedBy.set(ord, [...(unblockedBy.get(ord) ?? []), row.id]);
    }
  }

  const broken = settled.filter((row) => row.status === "failed" || row.status === "cancelled");
  const cancelledBy = await cascadeIn(sql, schema, broken.map((row) => ({ id: row.id, status: row.status })), changes);

  const published = await changes.record(sql, channel);
  const value = settlements.map(({ lease }, ord): SettleResult => {
    const row = byOrd.get(ord);
    if (row === undefined) return { type: "lost", jobId: lease.jobId };
    return { type: "settled", job: toJobRecord(row), unblocked: unblockedBy.get(ord) ?? [], cancelled: cancelledBy.get(row.id) ?? [] };
  });
  return { value, changes: published };
}

/** The batch as the settle statements read it; a malformed id or token cannot hold a lease and is left out. */
function settlementRows(settlements: readonly Settlement[]): SettlementRow[] {
  const rows = settlements.map(({ lease, outcome }, ord): SettlementRow => {
    const base = { ord, id: lease.jobId, token: lease.token, kind: outcome.type };
    switch (outcome.type) {
      case "completed":
        return { ...base, result: outcome.result ?? null };
      case "retry":
        return { ...base, error: outcome.error, run_at: outcome.runAt.toISOString() };
      case "failed":
      case "cancelled":
        return { ...base, error: outcome.error };
      case "interrupted":
        return base;
      default:
        return assertNever(outcome);
    }
  });
  // Leaving malformed ones out keeps the uuid casts from failing the batch.
  return rows.filter((row) => isUuid(row.id) && isUuid(row.token));
}

/** Rows in insertion order, so results and logs do not depend on the plan. */
export function bySeq<T extends { seq: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => Number(a.seq) - Number(b.seq));
}

/** Whether a string can be a job id or lease token (both UUIDs): anything else would fail a uuid cast. */
export const isUuid: (value: string) => boolean = isJobId;
