import type { Db } from "./sql/fragments.js";
import { lockAffected, type AffectedJobs } from "./sql/lock-affected.js";

/** Passes at most of `lockUntilNoneNew`: more than the few seen, only to bound a storm of inserts. */
const MAX_LOCK_PASSES = 20;

/**
 * Runs `pass`, a statement that walks down the dependency graph and locks what it finds, until a
 * pass finds no job the one before had not. A pass reads the graph as of its own start and may wait
 * for a lock meanwhile: a job inserted below one it had not locked yet (the insert share-locks that
 * job, and commits) was missed. As long as a pass walks only through the jobs it locks, one that
 * starts with every job of the pass before locked, and finds no more, has found them all: a new job
 * below would have to share-lock one this transaction holds, and so waits for it to end. What a
 * later pass adds is locked after the rest, out of id order: a deadlock that this rarely makes is
 * detected by the server and the transaction run again from the start. Answers the last pass's rows,
 * read with every lock held (after `MAX_LOCK_PASSES`, whatever the last pass found).
 */
export async function lockUntilNoneNew<T extends { readonly id: string }>(pass: () => Promise<readonly T[]>): Promise<readonly T[]> {
  let rows = await pass();
  for (let n = 2; n <= MAX_LOCK_PASSES; n++) {
    const again = await pass();
    const before = new Set(rows.map((row) => row.id));
    rows = again;
    if (again.every((row) => before.has(row.id))) break;
  }
  return rows;
}

/**
 * Locks everything a settle or cancel may change (`lockAffected`); when it cascades, until a pass
 * finds no more (`lockUntilNoneNew`: its walk below the roots goes only through the blocked and
 * pending jobs it locks). Without that, the cascade's own read could miss a dependent inserted
 * meanwhile, and leave it blocked behind a cancelled job.
 */
export async function lockAffectedJobs(sql: Db, schema: string, affected: AffectedJobs): Promise<void> {
  if (affected.cascading.length === 0) await lockAffected(sql, schema, affected);
  else await lockUntilNoneNew(() => lockAffected(sql, schema, affected));
}
