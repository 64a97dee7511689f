import type { Db } from "./sql/fragments.js";
import { lockAffected, type AffectedJobs } from "./sql/lock-affected.js";

/**
 * Locks everything a settle or cancel may change (`lockAffected`) and, when it cascades, locks again
 * until a pass finds nothing new. A pass reads the dependents as of its own start, and it may wait
 * for a lock meanwhile: a dependent inserted below a job it had not locked yet (the insert
 * share-locks that job, and commits) was missed, and the cascade's own read could miss it too,
 * leaving it blocked behind a cancelled job. The walk goes only through the jobs it locks (blocked
 * and pending ones), so a pass that starts with every job of the pass before locked, and finds no
 * more, has found them all: a new dependent would have to share-lock one of the jobs this
 * transaction holds, and so waits for it to end. What a later pass adds is locked after the rest, out of id order: a deadlock that
 * this rarely makes is detected by the server and the transaction run again from the start.
 */
export async function lockAffectedJobs(sql: Db, schema: string, affected: AffectedJobs): Promise<void> {
  let locked = idsOf(await lockAffected(sql, schema, affected));
  if (affected.cascading.length === 0) return;
  for (let pass = 2; pass <= MAX_LOCK_PASSES; pass++) {
    const again = idsOf(await lockAffected(sql, schema, affected));
    if (again === locked) return;
    locked = again;
  }
}

/**
 * Passes at most: each one after the first follows an insert that committed below a job while the
 * pass before waited for it, so a few are the most seen; the bound only keeps a storm of such
 * inserts from holding the transaction open (the last pass's locks are then what it goes on with).
 */
export const MAX_LOCK_PASSES = 20;

/** The locked ids of a pass, as one string (the rows come in id order). */
export function idsOf(rows: readonly { id: string }[]): string {
  return rows.map((row) => row.id).join(",");
}
