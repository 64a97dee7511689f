import { assertNever } from "../../assert-never.js";
import { outcomeUnderCancelRequest } from "../../cancel-request.js";
import type { JobId } from "../../types.js";
import type { Lease, Outcome, SettleResult, Settlement } from "../storage.js";
import { cascadeIn } from "./cascade.js";
import { ChangeSet, type Done } from "./change-set.js";
import { isUuid } from "./is-uuid.js";
import { isLockTimeout } from "./lock-timeout.js";
import { runPipelined, type Pipeline } from "./pipelined.js";
import { settledRecord, toJobRecord, type JobRow, type StoredChange } from "./rows.js";
import type { Db } from "./sql/fragments.js";
import { lockAffectedJobs } from "./lock-affected.js";
import { limitLockWait, lockAffected, lockFreeJobs, unlimitLockWait } from "./sql/lock-affected.js";
import { selectJobs } from "./sql/reads.js";
import { selectCancelRequested, settleAndUnblock, settleLeases, unblockDependents, type SettledJobRow, type SettlementRow, type UnblockedRow } from "./sql/settle.js";
import type { StoreContext } from "./store-context.js";
import { retryTransient } from "./transient.js";
import type { Notice } from "./sql/notify.js";

/**
 * How long a rescue waits for the lock on a dependent of the jobs it rescues (a failure cascades
 * to them) before it gives up and tries again at its next pass. It holds the rescued rows by then,
 * taken out of id order, so a transaction holding a dependent and waiting for a rescued row (two
 * enqueues naming both) closes a cycle: the rescue gives up well before the server's deadlock check
 * (deadlock_timeout, 1 s by default) would pick a victim, which could be the application's.
 */
const RESCUE_LOCK_WAIT_MS = 200;

/**
 * After a rescue batch waited too long, how long each of its settlements tried alone waits for a
 * lock. Many rescued jobs may cascade to one held dependent (a fan-in): each then gives up this
 * soon, and the lone tries stop after RESCUE_LOCK_WAIT_MS in all (the rest answer lost), so the pass
 * stays well within the rescuer's call deadline.
 */
const LONE_RESCUE_LOCK_WAIT_MS = 20;

/** The dependents a settle unblocked or cancelled, when it did neither (shared: results are read only). */
const NONE: readonly JobId[] = Object.freeze([]);

/** Outcomes that cancel no dependents: such a batch settles in one statement after its locks. */
const SIMPLE_OUTCOMES: ReadonlySet<Outcome["type"]> = new Set(["completed", "retry", "interrupted"]);

/** Whether every outcome of the batch is one that `settleSimply` stores (a rescue is not: see `settleIn`). */
function settlesSimply(settlements: readonly Settlement[]): boolean {
  return settlements.every(({ outcome, onlyIfExpired }) => SIMPLE_OUTCOMES.has(outcome.type) && onlyIfExpired !== true);
}

/**
 * A batch of outcomes that cancel nothing, as statements to run in order in one transaction: lock
 * what it may change in id order, then settle, unblock and notify in one statement. The settle
 * reports only what it changed; a settlement that does not carry its job as claimed has the whole
 * row read back by a third statement.
 */
function settleSimply(sql: Db, schema: string, notice: Notice, settlements: readonly Settlement[]): Pipeline<Done<SettleResult[]>> {
  const rows = settlementRows(settlements);
  const lock = lockAffected(sql, schema, {
    named: rows.map((row) => row.id),
    unblocking: rows.filter((row) => row.kind === "completed").map((row) => row.id),
    cascading: [],
  });
  const settle = settleAndUnblock(sql, schema, notice, rows);
  const unknown = settlements.filter((settlement) => settlement.job === undefined).map(({ lease }) => lease.jobId).filter(isUuid);
  const statements = unknown.length === 0 ? [lock, settle] : [lock, settle, selectJobs(sql, schema, unknown)];
  return {
    statements: statements as unknown as Pipeline<Done<SettleResult[]>>["statements"],
    finish: (results) => {
      const changed = (results[1] ?? []) as unknown as Awaited<ReturnType<typeof settleAndUnblock>>;
      const readBack = new Map(((results[2] ?? []) as unknown as JobRow[]).map((row) => [row.id, row]));
      // By `ord`, the settlement's place in the batch (an array: a map of every settled row costs more).
      const byOrd = new Array<SettledJobRow | undefined>(settlements.length);
      const changes: StoredChange[] = [];
      const unblocked: UnblockedRow[] = [];
      for (const row of changed) {
        if (row.kind !== "unblocked") {
          byOrd[row.ord] = row;
          changes.push(storedChange(row));
        } else if (row.status === "pending") unblocked.push(row);
      }
      const unblockedBy = new Map<number, JobId[]>();
      if (unblocked.length > 0) {
        const ordOf = new Map(changed.filter((row) => row.kind !== "unblocked" && row.status === "completed").map((row) => [row.id, row.ord]));
        for (const row of bySeq(unblocked)) {
          changes.push(storedChange(row));
          // Credited to the last completion in the batch that it waited for, as if settled one by one.
          const ord = Math.max(...row.depends_on.map((id) => ordOf.get(id) ?? -1));
          unblockedBy.set(ord, [...(unblockedBy.get(ord) ?? []), row.id]);
        }
      }
      const value = settlements.map(({ lease, job }, ord): SettleResult => {
        const row = byOrd[ord];
        // Read back only for a settlement without its job as claimed (ids come back lower case).
        const whole = job === undefined ? readBack.get(lease.jobId.toLowerCase()) : undefined;
        if (row === undefined || (job === undefined && whole === undefined)) return { type: "lost", jobId: lease.jobId };
        const record = job === undefined ? toJobRecord(whole as JobRow) : settledRecord(job, row);
        return { type: "settled", job: record, unblocked: unblockedBy.get(ord) ?? NONE, cancelled: NONE };
      });
      return { value, changes };
    },
  };
}

/** How `settleIn` goes about its batch. */
export interface SettleInOptions {
  /** Takes the locking path (cascades and unblocking under locks) even for outcomes `settleSimply` could store. */
  readonly cascading?: boolean;
  /** How long a rescue waits for the dependents of the rows it took (see `RESCUE_LOCK_WAIT_MS`). */
  readonly rescueLockWaitMs?: number;
  /** The transaction's own bound on lock waits, restored after the rescue's (see `StoreContext.lockWaitMs`). */
  readonly lockWaitMs?: number | undefined;
}

/**
 * Stores outcomes (CAS on the lease), then unblocks and cascades, each a statement for the whole
 * batch; a batch that cascades nothing in one statement after its locks, unless `cascading` asks
 * for the general way (which also stores a retry or release of a job whose cancel was requested as
 * its cancel).
 */
export async function settleIn(
  sql: Db,
  schema: string,
  notice: Notice,
  settlements: readonly Settlement[],
  options: SettleInOptions = {},
): Promise<Done<SettleResult[]>> {
  const { cascading = false, rescueLockWaitMs = RESCUE_LOCK_WAIT_MS, lockWaitMs } = options;
  if (!cascading && settlesSimply(settlements)) {
    const { statements, finish } = settleSimply(sql, schema, notice, settlements);
    const results = [];
    for (const statement of statements) results.push(await statement);
    return finish(results);
  }
  let wellFormed = settlementRows(settlements);
  const expiring = wellFormed.filter((row) => row.only_if_expired).map((row) => row.id);
  if (expiring.length > 0) {
    // A rescue skips a row another transaction holds (and answers lost) rather than wait for it: the
    // holder may be the attempt's own ctx.tx, still running, and a wait past the rescuer's call
    // deadline would replace the pool, ending that very transaction. The next pass tries again.
    const free = new Set((await lockFreeJobs(sql, schema, expiring)).map((row) => row.id));
    wellFormed = wellFormed.filter((row) => !row.only_if_expired || free.has(row.id.toLowerCase()));
    // It now holds those rows out of id order, and waits for their dependents: bounded (see RESCUE_LOCK_WAIT_MS).
    await limitLockWait(sql, rescueLockWaitMs);
  }
  await lockAffectedJobs(sql, schema, {
    named: wellFormed.map((row) => row.id),
    unblocking: wellFormed.filter((row) => row.kind === "completed").map((row) => row.id),
    cascading: wellFormed.filter((row) => row.kind === "failed" || row.kind === "cancelled").map((row) => row.id),
  });
  wellFormed = await cancelIfRequested(sql, schema, settlements, wellFormed);
  // Everything it changes is locked; its commit may wait its turn to notify.
  if (expiring.length > 0) await (lockWaitMs === undefined ? unlimitLockWait(sql) : limitLockWait(sql, lockWaitMs));
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

  const published = await changes.record(sql, notice);
  const value = settlements.map(({ lease }, ord): SettleResult => {
    const row = byOrd.get(ord);
    if (row === undefined) return { type: "lost", jobId: lease.jobId };
    return { type: "settled", job: toJobRecord(row), unblocked: unblockedBy.get(ord) ?? [], cancelled: cancelledBy.get(row.id) ?? [] };
  });
  return { value, changes: published };
}

/**
 * The rows of `wellFormed` again, a retry or release of a job whose cancel was requested as its
 * cancel (`outcomeUnderCancelRequest`), with what that cancel cascades to locked too. The jobs are
 * locked already: no request can come between this read and the settle.
 */
async function cancelIfRequested(
  sql: Db,
  schema: string,
  settlements: readonly Settlement[],
  wellFormed: readonly SettlementRow[],
): Promise<SettlementRow[]> {
  const releasing = wellFormed.filter((row) => row.kind === "retry" || row.kind === "interrupted").map((row) => row.id);
  if (releasing.length === 0) return [...wellFormed];
  const requested = new Set((await selectCancelRequested(sql, schema, releasing)).map((row) => row.id));
  if (requested.size === 0) return [...wellFormed];
  const rows = wellFormed.map((row) => {
    if (!requested.has(row.id.toLowerCase())) return row;
    const { lease, outcome, onlyIfExpired } = settlements[row.ord] as Settlement;
    return settlementRow(row.ord, lease, outcomeUnderCancelRequest(outcome, onlyIfExpired === true), onlyIfExpired === true);
  });
  await lockAffectedJobs(sql, schema, { named: [], unblocking: [], cascading: [...requested] });
  return rows;
}

/** The batch as the settle statements read it; a malformed id or token cannot hold a lease and is left out. */
function settlementRows(settlements: readonly Settlement[]): SettlementRow[] {
  const rows: SettlementRow[] = [];
  for (let ord = 0; ord < settlements.length; ord++) {
    const { lease, outcome, onlyIfExpired } = settlements[ord] as Settlement;
    // Leaving malformed ones out keeps the uuid casts from failing the batch.
    if (isUuid(lease.jobId) && isUuid(lease.token)) rows.push(settlementRow(ord, lease, outcome, onlyIfExpired === true));
  }
  return rows;
}

function settlementRow(ord: number, { jobId: id, token }: Lease, outcome: Outcome, onlyIfExpired: boolean): SettlementRow {
  const only_if_expired = onlyIfExpired;
  switch (outcome.type) {
    case "completed":
      return { ord, id, token, only_if_expired, kind: outcome.type, result: outcome.result ?? null };
    case "retry":
      return { ord, id, token, only_if_expired, kind: outcome.type, error: outcome.error, run_at: outcome.runAt.toISOString() };
    case "failed":
    case "cancelled":
      return { ord, id, token, only_if_expired, kind: outcome.type, error: outcome.error };
    case "interrupted":
      return { ord, id, token, only_if_expired, kind: outcome.type };
    default:
      return assertNever(outcome);
  }
}

/** A settled or unblocked row as the change it publishes. */
function storedChange(row: SettledJobRow | UnblockedRow): StoredChange {
  return { id: row.id, type: row.type, status: row.status, attempt: row.attempt };
}

/** Rows in insertion order, so results and logs do not depend on the plan. */
function bySeq<T extends { seq: string }>(rows: readonly T[]): T[] {
  return [...rows].sort((a, b) => Number(a.seq) - Number(b.seq));
}

/**
 * `PostgresStorage.settle`: a batch that cancels nothing as pipelined statements, any other in a
 * transaction of its own. A retry or release that the pipelined settle left (its job's cancel was
 * requested, or its lease lost) is tried again in such a transaction, which stores it as the cancel.
 */
export async function settle(store: StoreContext, settlements: readonly Settlement[]): Promise<readonly SettleResult[]> {
  if (settlements.length === 0) return [];
  if (!settlesSimply(settlements)) return settleInTransaction(store, settlements);
  const notice = store.nextNotice();
  const done = await waitingInPieces(store.lockWaitMs, () =>
    store.guard((sql) => retryTransient(() => runPipelined(sql, (t) => settleSimply(t, store.schema, notice, settlements), store.lockWaitMs)), "settle"),
  );
  store.publish(done.changes, notice);
  const left: number[] = [];
  for (let i = 0; i < settlements.length; i++) {
    if (done.value[i]?.type === "lost" && releases((settlements[i] as Settlement).outcome)) left.push(i);
  }
  if (left.length === 0) return done.value;
  // The batch is stored; a failure now must not make its worker try the stored outcomes again (they
  // would answer lost, and go unannounced). Those left answer lost: the rescue of their leases then
  // stores them as their cancels.
  const again = await settleInTransaction(store, left.map((i) => settlements[i] as Settlement)).catch(() => undefined);
  const value = [...done.value];
  if (again !== undefined) left.forEach((i, k) => (value[i] = again[k] as SettleResult));
  return value;
}

/** Whether `outcome` puts its job back to pending (a retry, a release), which a cancel request turns into its cancel. */
function releases(outcome: Outcome): boolean {
  return outcome.type === "retry" || outcome.type === "interrupted";
}

/**
 * The settle of `settlements` in a transaction of its own, with its cascades (`settleIn`). A rescue
 * that waited too long for a lock changed nothing: when it was a batch, each of its settlements is
 * tried alone (see LONE_RESCUE_LOCK_WAIT_MS), so a held dependent holds back only the jobs above it;
 * those answer lost, and the next pass tries them again.
 */
async function settleInTransaction(store: StoreContext, settlements: readonly Settlement[]): Promise<readonly SettleResult[]> {
  const done = await settleOrLockTimeout(store, settlements, RESCUE_LOCK_WAIT_MS);
  if (done !== undefined) return done;
  if (settlements.length === 1) return allLost(settlements).value;
  const until = Date.now() + RESCUE_LOCK_WAIT_MS;
  const alone: SettleResult[] = [];
  for (const settlement of settlements) {
    const one = Date.now() < until ? await settleOrLockTimeout(store, [settlement], LONE_RESCUE_LOCK_WAIT_MS) : undefined;
    alone.push(...(one ?? allLost([settlement]).value));
  }
  return alone;
}

/** `settleInTransaction`'s one transaction; undefined when a rescue among them waited too long for a lock. */
async function settleOrLockTimeout(store: StoreContext, settlements: readonly Settlement[], rescueLockWaitMs: number): Promise<readonly SettleResult[] | undefined> {
  const notice = store.nextNotice();
  const rescue = settlements.some((settlement) => settlement.onlyIfExpired === true);
  const done = await waitingInPieces(store.lockWaitMs, () =>
    store.guard(
      (sql) =>
        store.transaction(sql, (t) => settleIn(t, store.schema, notice, settlements, { cascading: true, rescueLockWaitMs, lockWaitMs: store.lockWaitMs })).catch((err: unknown) => {
          if (isLockTimeout(err) && rescue) return undefined;
          throw err;
        }),
      "settle",
    ),
  );
  if (done === undefined) return undefined;
  store.publish(done.changes, notice);
  return done.value;
}

/** How long in all a settle keeps waiting for a row another transaction holds, in pieces of the store's lock wait. */
const SETTLE_LOCK_WAIT_BUDGET_MS = 120_000;

/**
 * `settleOnce`, run again at once while it fails waiting for a row lock (55P03): a settle waits for
 * a row another transaction holds (an attempt's `ctx.tx` that enqueued a dependent of the job) in
 * pieces of `lockWaitMs`, each under the call deadline of its own, which so never replaces the pool
 * (ending every attempt transaction on it) for a wait. Giving up after a few tries would leave a
 * completed job to the rescuer, which runs it again (or, in an attempt's commit, fail the attempt
 * after its handler's effects); while its row is held no rescue takes it, and once it is free the
 * settle waiting in the lock's queue has it first. `between` runs after each piece that gave up.
 */
export async function waitingInPieces<T>(lockWaitMs: number | undefined, settleOnce: () => Promise<T>, between?: () => Promise<void>): Promise<T> {
  const pieces = lockWaitMs === undefined ? 1 : Math.max(1, Math.ceil(SETTLE_LOCK_WAIT_BUDGET_MS / lockWaitMs));
  for (let piece = 1; ; piece++) {
    try {
      return await settleOnce();
    } catch (err) {
      if (piece >= pieces || !isLockTimeout(err)) throw err;
      await between?.();
    }
  }
}

/** Every settlement of the batch answered `lost`, nothing changed. */
function allLost(settlements: readonly Settlement[]): Done<SettleResult[]> {
  return { value: settlements.map(({ lease }) => ({ type: "lost", jobId: lease.jobId })), changes: [] };
}
