import { DuplicateJobError, InvalidStateError, JobNotFoundError } from "../../errors.js";
import type { JobId, JobStatus } from "../../types.js";
import type { RetryResult } from "../storage.js";
import { dependencyError } from "../../cascade.js";
import { planRestart } from "../../restart.js";
import { planRevival } from "../../revival.js";
import { ChangeSet, type Done } from "./change-set.js";
import { isUuid } from "./is-uuid.js";
import { lockUntilNoneNew } from "./lock-affected.js";
import { toJobRecord } from "./rows.js";
import { lockCascadedBelow, lockJobsForChange, lockStatuses, queueBehindOverlappingRetries, reattributeCancellations, restartJob, reviveDependents } from "./sql/cancel-retry.js";
import type { Db } from "./sql/fragments.js";
import { liveKeyHolders } from "./sql/insert.js";
import { selectJobs } from "./sql/reads.js";
import type { StoreContext } from "./store-context.js";
import type { Notice } from "./sql/notify.js";

/** Restarts a failed or cancelled job and revives the dependents its failure cancelled. */
async function retryIn(sql: Db, schema: string, notice: Notice, id: JobId): Promise<Done<RetryResult>> {
  // First behind any other retry whose jobs meet these (`queueBehindOverlappingRetries`). Then the
  // dependencies are locked FOR SHARE (none settles or restarts before this restart commits with
  // its count of them) before the job itself: a retry of one of them locks it, then its cascaded
  // dependents, this job among them, so this order cannot deadlock with it.
  await queueBehindOverlappingRetries(sql, schema, id);
  const [unlocked] = await selectJobs(sql, schema, [id]);
  if (unlocked === undefined) throw new JobNotFoundError(id);
  const dependencies = new Map(
    unlocked.depends_on.length > 0 ? (await lockStatuses(sql, schema, unlocked.depends_on)).map((row) => [row.id, row.status]) : [],
  );
  const [job] = await lockJobsForChange(sql, schema, [id]);
  if (job === undefined) throw new JobNotFoundError(id);
  // The cancel cause is one of the dependencies (read above), unless retention deleted it with its edge.
  const restart = planRestart({ id, status: job.status, dependsOn: job.depends_on, cancelCause: job.cancel_cause ?? undefined }, (dependency) =>
    dependencies.get(dependency));

  // Locked until a read finds no more: a job inserted (cancelled) below one not yet locked would stay
  // cancelled while its cause came back.
  const cascaded = await lockUntilNoneNew(() => lockCascadedBelow(sql, schema, id));
  const inside = new Set([id, ...cascaded.map((row) => row.id)]);
  const outside = [...new Set(cascaded.flatMap((row) => row.depends_on))].filter((dependency) => !inside.has(dependency));
  const statuses = new Map<JobId, JobStatus>(outside.length > 0 ? (await lockStatuses(sql, schema, outside)).map((row) => [row.id, row.status]) : []);
  const plan = planRevival(
    id,
    cascaded.map((row) => ({ id: row.id, cancelCause: row.cancel_cause, dependsOn: row.depends_on })),
    (dependency) => statuses.get(dependency),
  );

  const revivedIds = new Set(plan.revive.map((r) => r.id));
  await assertKeysFree(sql, schema, [job, ...cascaded.filter((row) => revivedIds.has(row.id))]);

  const changes = new ChangeSet();
  const [restarted] = await restartJob(sql, schema, id, { status: restart.status, unfinished: restart.status === "blocked" ? restart.unfinished : 0 });
  if (restarted === undefined) throw new InvalidStateError(id, job.status, "retry");
  changes.status(restarted);
  if (plan.reattributed.length > 0) {
    await reattributeCancellations(
      sql,
      schema,
      plan.reattributed.map(({ id: victim, cause, causeStatus }) => ({ id: victim, cause, error: dependencyError(cause, causeStatus) })),
    );
  }
  if (plan.revive.length > 0) {
    const revived = new Map(
      (await reviveDependents(sql, schema, plan.revive.map((r) => ({ id: r.id, pending_dependencies: r.unfinished })))).map((row) => [row.id, row]),
    );
    // Logged parents before children, as planned.
    for (const { id: revivedId } of plan.revive) {
      const row = revived.get(revivedId);
      if (row !== undefined) changes.status(row);
    }
  }
  return {
    value: { job: toJobRecord(restarted), revived: plan.revive.map((r) => r.id) },
    changes: await changes.record(sql, notice),
  };
}

/** Coming back to life must not give a second live job an idempotency key. */
async function assertKeysFree(sql: Db, schema: string, jobs: readonly { id: JobId; idempotency_key: string | null }[]): Promise<void> {
  const keyed = jobs.filter((job): job is { id: JobId; idempotency_key: string } => job.idempotency_key !== null);
  if (keyed.length === 0) return;
  const holders = new Map((await liveKeyHolders(sql, schema, keyed.map((job) => job.idempotency_key))).map((row) => [row.idempotency_key, row]));
  const claimed = new Map<string, JobId>();
  for (const job of keyed) {
    const holder = holders.get(job.idempotency_key);
    if (holder !== undefined && holder.id !== job.id) throw new DuplicateJobError(holder.id, holder.status, job.idempotency_key);
    const sibling = claimed.get(job.idempotency_key);
    if (sibling !== undefined) throw new DuplicateJobError(sibling, "blocked", job.idempotency_key);
    claimed.set(job.idempotency_key, job.id);
  }
}

/** How often a retry runs in all while concurrent inserts keep taking its jobs' idempotency keys. */
const KEY_RACE_ATTEMPTS = 10;

/** Whether `err` is the live-key index refusing a job brought back to life: see `retryJob`. */
function isKeyTaken(err: unknown): boolean {
  const { code, constraint_name } = (err ?? {}) as { code?: unknown; constraint_name?: unknown };
  return code === "23505" && constraint_name === "jobs_idempotency_idx";
}

/** `PostgresStorage.retryJob`, in a transaction of its own. */
export async function retryJob(store: StoreContext, given: JobId): Promise<RetryResult> {
  if (!isUuid(given)) throw new JobNotFoundError(given);
  // As PostgreSQL prints it: the revival plan finds the job's dependents by the ids the rows answer.
  const id = given.toLowerCase();
  const notice = store.nextNotice();
  // `assertKeysFree` cannot see a key an insert holds but has not committed; once it commits, the
  // index refuses our restart. Run again: the holder is visible then, and the answer a DuplicateJobError.
  const done = await store.guard(async (sql) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await store.transaction(sql, (t) => retryIn(t, store.schema, notice, id));
      } catch (err) {
        if (attempt >= KEY_RACE_ATTEMPTS || !isKeyTaken(err)) throw err;
      }
    }
  }, "retry");
  store.publish(done.changes, notice);
  return done.value;
}
