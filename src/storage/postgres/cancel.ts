import type { JobId } from "../../types.js";
import type { CancelResult } from "../storage.js";
import { cascadeIn } from "./cascade.js";
import { ChangeSet, type Done } from "./change-set.js";
import { isUuid } from "./is-uuid.js";
import { cancelWaiting, lockJobsForChange, requestCancel } from "./sql/cancel-retry.js";
import type { Db } from "./sql/fragments.js";
import { lockAffectedJobs } from "./lock-affected.js";
import type { StoreContext } from "./store-context.js";
import type { Notice } from "./sql/notify.js";

/** Cancels waiting jobs (and their dependents) and asks running ones to stop, in one transaction. */
async function cancelIn(sql: Db, schema: string, notice: Notice, requested: readonly JobId[]): Promise<Done<CancelResult>> {
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
  return {
    value: { cancelled: [...cancelled], cancelRequested: running.filter((id) => askedIds.has(id)), notFound },
    changes: await changes.record(sql, notice),
  };
}

/** `PostgresStorage.cancelJobs`, in a transaction of its own. */
export async function cancelJobs(store: StoreContext, given: readonly JobId[]): Promise<CancelResult> {
  if (given.length === 0) return { cancelled: [], cancelRequested: [], notFound: [] };
  // As PostgreSQL prints them: the rows answer lower-case ids, and the answer is matched by id.
  const ids = given.map((id) => (isUuid(id) ? id.toLowerCase() : id));
  const notice = store.nextNotice();
  const done = await store.guard((sql) => store.transaction(sql, (t) => cancelIn(t, store.schema, notice, ids)), "cancel");
  store.publish(done.changes, notice);
  return done.value;
}
