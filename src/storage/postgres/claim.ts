import { admitJobs } from "../../resources.js";
import type { ClaimRequest, ClaimResult } from "../storage.js";
import { ChangeSet, type Done } from "./change-set.js";
import { priorityOf, toClaimedJobRecord, toLease, type ClaimedJobRow, type StoredChange } from "./rows.js";
import { claimRunnable, leaseJobs, lockClaimCandidates, selectBeyondCapacity, selectNextDue, type CandidateRow, type ClaimRow } from "./sql/claim.js";
import type { Db } from "./sql/fragments.js";
import type { StoreContext } from "./store-context.js";
import { retryTransient } from "./transient.js";
import type { Notice } from "./sql/notify.js";

/** Claim candidates fetched per priority level: room for admission to skip jobs that do not fit. */
const candidatesPerLevel = (limit: number) => Math.min(1_000, limit * 4 + 16);

/**
 * The claim as one statement, for candidates that need no resources (admission is then plain
 * effective-priority order). Answers undefined when some candidate needs resources: the caller
 * then claims with `claimIn`, which admits in JS.
 */
async function claimSimple(sql: Db, schema: string, notice: Notice, request: ClaimRequest): Promise<Done<ClaimResult> | undefined> {
  const rows = await claimRunnable(sql, schema, notice, {
    types: request.types, limit: request.limit, workerId: request.workerId, leaseMs: request.leaseMs, starvationMs: request.starvationMs,
  });
  if (rows[0]?.simple !== true) return undefined;
  const ordered = rows.filter((row): row is ClaimRow & ClaimedJobRow => row.id !== null);
  const changes: StoredChange[] = ordered.map((row) => ({ id: row.id, type: row.type, status: "running", attempt: row.attempt }));
  for (const [id, type, attempt] of rows[0]?.left_over ?? []) changes.push({ id, type, status: "pending", attempt });
  const claimed = ordered.map((row) => ({ job: toClaimedJobRecord(row, request.workerId), lease: toLease(row) }));
  const nextDueInMs = rows[0]?.next_due_ms ?? undefined;
  return { value: nextDueInMs === undefined ? { claimed, unschedulable: [] } : { claimed, unschedulable: [], nextDueInMs }, changes };
}

/** Locks candidates, lets `admitJobs` choose on the database clock, and leases the chosen ones. */
async function claimIn(sql: Db, schema: string, notice: Notice, request: ClaimRequest, perLevel: number): Promise<Done<ClaimResult>> {
  const candidates = await lockClaimCandidates(sql, schema, request.types, perLevel, request.capacity);
  // Jobs beyond the whole capacity are left out of the scan (they would fill its window); reported here.
  const beyond = (await selectBeyondCapacity(sql, schema, request.types, request.capacity, perLevel)).map((row) => row.id);
  const first = candidates[0];
  if (first === undefined) return { value: await withNextDue(sql, schema, request, { claimed: [], unschedulable: beyond }), changes: [] };
  const admission = admitJobs(
    candidates.map((row) => ({ id: row.id, priority: priorityOf(row.priority), runAt: row.run_at, seq: Number(row.seq), resources: row.resources })),
    { slots: request.limit, free: request.free, capacity: request.capacity, starvationMs: request.starvationMs, now: first.db_now },
  );
  if (admission.admitted.length === 0) return { value: await withNextDue(sql, schema, request, { claimed: [], unschedulable: [...beyond, ...admission.unschedulable] }), changes: [] };
  const leased = new Map((await leaseJobs(sql, schema, admission.admitted, request.workerId, request.leaseMs)).map((row) => [row.id, row]));
  const changes = new ChangeSet();
  const claimed = admission.admitted.flatMap((id) => {
    const row = leased.get(id);
    if (row === undefined) return [];
    changes.status({ id: row.id, type: row.type, status: "running", attempt: row.attempt });
    return [{ job: toClaimedJobRecord(row, request.workerId), lease: toLease(row) }];
  });
  // As the one-statement claim does (`claimRunnable`): what it locked and left wakes other workers.
  // Only a claim that leased wakes: one that leased nothing would wake workers that may do the same.
  for (const row of oneOfEachType(candidates, new Set(admission.admitted))) {
    changes.status({ id: row.id, type: row.type, status: "pending", attempt: row.attempt });
  }
  return { value: await withNextDue(sql, schema, request, { claimed, unschedulable: [...beyond, ...admission.unschedulable] }), changes: await changes.record(sql, notice) };
}

/** `result` with `nextDueInMs` when it leased fewer than `request.limit` and some job of its types is due later. */
async function withNextDue(sql: Db, schema: string, request: ClaimRequest, result: ClaimResult): Promise<ClaimResult> {
  if (result.claimed.length >= request.limit) return result;
  const nextDueInMs = (await selectNextDue(sql, schema, request.types))[0]?.next_due_ms ?? undefined;
  return nextDueInMs === undefined ? result : { ...result, nextDueInMs };
}

/** The first candidate of each type that the claim did not lease (`leased`). */
function oneOfEachType(candidates: readonly CandidateRow[], leased: ReadonlySet<string>): CandidateRow[] {
  const byType = new Map<string, CandidateRow>();
  for (const row of candidates) if (!leased.has(row.id) && !byType.has(row.type)) byType.set(row.type, row);
  return [...byType.values()];
}

/** `PostgresStorage.claimJobs`: the one-statement claim, or, when some candidate needs resources, admission in JS. */
export async function claimJobs(store: StoreContext, request: ClaimRequest): Promise<ClaimResult> {
  if (request.limit <= 0 || request.types.length === 0) return { claimed: [], unschedulable: [] };
  const notice = store.nextNotice();
  const done = await store.guard(
    async (sql) =>
      (await retryTransient(() => claimSimple(sql, store.schema, notice, request))) ??
      store.transaction(sql, (t) => claimIn(t, store.schema, notice, request, candidatesPerLevel(request.limit))),
    "claim",
  );
  store.publish(done.changes, notice);
  return done.value;
}
