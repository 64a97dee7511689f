import type postgres from "postgres";
import type { JobId } from "../../types.js";
import type { CancelResult } from "../storage.js";
import { cascadeIn } from "./cascade.js";
import { ChangeSet, type Done } from "./change-set.js";
import { isUuid } from "./is-uuid.js";
import { limitStatementTime, selectRunningHeldByOwnAttempt } from "./sql/attempt-mark.js";
import { cancelWaiting, lockJobsForChange, requestCancel } from "./sql/cancel-retry.js";
import type { Db } from "./sql/fragments.js";
import { lockAffectedJobs } from "./lock-affected.js";
import { isLockTimeout } from "./lock-timeout.js";
import type { StoreContext } from "./store-context.js";
import type { Notice } from "./sql/notify.js";

const NONE_ASKED: ReadonlySet<JobId> = new Set();

/**
 * Cancels waiting jobs (and their dependents) and asks running ones to stop, in one transaction.
 * `askedBefore`: jobs whose workers were asked to stop them before this transaction (`askAttempts`),
 * answered among those asked to stop while running, or once cancelled (by their workers).
 */
async function cancelIn(sql: Db, schema: string, notice: Notice, requested: readonly JobId[], askedBefore: ReadonlySet<JobId> = NONE_ASKED): Promise<Done<CancelResult>> {
  const ids = [...new Set(requested)];
  const valid = ids.filter(isUuid);
  if (valid.length > 0) await lockAffectedJobs(sql, schema, { named: valid, unblocking: [], cascading: valid });
  const locked = new Map((await lockJobsForChange(sql, schema, ids.filter(isUuid))).map((row) => [row.id, row]));
  const notFound = ids.filter((id) => !locked.has(id));
  const waiting = ids.filter((id) => {
    const status = locked.get(id)?.status;
    return status === "blocked" || status === "pending";
  });
  const running = ids.filter((id) => locked.get(id)?.status === "running");
  const changes = new ChangeSet();

  const direct = waiting.length > 0 ? await cancelWaiting(sql, schema, waiting) : [];
  for (const row of direct) changes.status(row);
  const victimsByRoot = await cascadeIn(sql, schema, direct.map((row) => ({ id: row.id, status: row.status })), changes);
  const asked = running.length > 0 ? await requestCancel(sql, schema, running) : [];
  for (const row of asked) changes.cancelRequest(row);

  const cancelledIds = new Set(direct.map((row) => row.id));
  const cancelled = new Set<JobId>();
  for (const id of waiting) {
    if (!cancelledIds.has(id)) continue;
    cancelled.add(id);
    for (const victim of victimsByRoot.get(id) ?? []) cancelled.add(victim);
  }
  const askedIds = new Set(asked.map((row) => row.id));
  const stoppedByWorker = (id: JobId) => askedBefore.has(id) && locked.get(id)?.status === "cancelled";
  return {
    value: { cancelled: [...cancelled], cancelRequested: ids.filter((id) => askedIds.has(id) || stoppedByWorker(id)), notFound },
    changes: await changes.record(sql, notice),
  };
}

/**
 * How long a cancel's first try waits for a row lock at most (half the store's lock wait when that is
 * shorter). Longer, a job it names may be held up by its own attempt's `ctx.tx` (an insert naming the
 * job or one of its dependents), which ends only when the handler does: the request could not be
 * recorded until then, so the workers running such jobs are asked first (`askAttempts`).
 */
const FIRST_TRY_LOCK_WAIT_MS = 1_000;

/**
 * Asks the workers running those of `ids` whose attempt's own transaction holds a row the cancel
 * locks to stop them, by a cancel request notified outside a transaction (the flag could not be
 * set). A worker stops its handler and rolls its `ctx.tx` back, which frees those rows; its settle
 * stores the cancel. Answers the ids it asked about.
 */
async function askAttempts(store: StoreContext, sql: postgres.Sql, ids: readonly JobId[], withinMs: number): Promise<ReadonlySet<JobId>> {
  // Bounded (the walk below each job is slow on wide graphs): one that runs out asks no one.
  const held = await store
    .transaction(sql, async (t) => {
      const limited = limitStatementTime(t, withinMs).execute();
      limited.catch(() => undefined);
      const rows = await selectRunningHeldByOwnAttempt(t, store.schema, ids);
      await limited;
      return rows;
    })
    .catch((err: unknown) => {
      if ((err as { code?: unknown } | null)?.code === "57014") return [];
      throw err;
    });
  if (held.length === 0) return NONE_ASKED;
  const notice = store.nextNotice();
  const requests = new ChangeSet();
  for (const row of held) requests.cancelRequest(row);
  store.publish(await requests.record(sql, notice), notice);
  return new Set(held.map((row) => row.id));
}

/**
 * `PostgresStorage.cancelJobs`, in a transaction of its own. When a row lock held it up, the workers
 * running named jobs whose attempt's own transaction holds such rows are asked to stop them, and the
 * cancel is tried again with the rest of the store's lock wait: it then records the request, or finds
 * the job cancelled by its worker. A second try that fails (another transaction holds rows too)
 * leaves the call failed, though a worker asked may have stopped its job.
 */
export async function cancelJobs(store: StoreContext, given: readonly JobId[]): Promise<CancelResult> {
  if (given.length === 0) return { cancelled: [], cancelRequested: [], notFound: [] };
  // As PostgreSQL prints them: the rows answer lower-case ids, and the answer is matched by id.
  const ids = given.map((id) => (isUuid(id) ? id.toLowerCase() : id));
  const notice = store.nextNotice();
  // The two tries share the store's lock wait, and the look-up between them takes at most the first's:
  // together below the call deadline (twice the lock wait).
  const { lockWaitMs } = store;
  const firstTryMs = lockWaitMs === undefined ? FIRST_TRY_LOCK_WAIT_MS : Math.max(1, Math.min(FIRST_TRY_LOCK_WAIT_MS, Math.floor(lockWaitMs / 2)));
  const secondTryMs = lockWaitMs === undefined ? undefined : Math.max(1, lockWaitMs - firstTryMs);
  const done = await store.guard(async (sql) => {
    try {
      return await store.transaction(sql, (t) => cancelIn(t, store.schema, notice, ids), firstTryMs);
    } catch (err) {
      if (!isLockTimeout(err)) throw err;
    }
    const asked = await askAttempts(store, sql, ids.filter(isUuid), firstTryMs);
    return store.transaction(sql, (t) => cancelIn(t, store.schema, notice, ids, asked), secondTryMs);
  }, "cancel");
  store.publish(done.changes, notice);
  return done.value;
}
