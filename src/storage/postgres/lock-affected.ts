import type { Db } from "./sql/fragments.js";
import { lockAffected, type AffectedJobs } from "./sql/lock-affected.js";

/**
 * Locks everything a settle or cancel may change (`lockAffected`) and, when it cascades, locks again
 * until a pass finds nothing new. A pass reads the dependents as of its own start, and it may wait
 * for a lock meanwhile: a dependent inserted below a job it had not locked yet (the insert
 * share-locks that job, and commits) was missed, and the cascade's own read could miss it too,
 * leaving it blocked behind a cancelled job. A pass that starts with every job of the pass before
 * locked, and finds no more, has found them all: a new dependent would have to share-lock one of
 * the jobs this transaction holds, and so waits for it to end. The set only grows, within the
 * jobs there are. What a later pass adds is locked after the rest, out of id order: a deadlock that
 * this rarely makes is detected by the server and the transaction run again from the start.
 */
export async function lockAffectedJobs(sql: Db, schema: string, affected: AffectedJobs): Promise<void> {
  let locked = (await lockAffected(sql, schema, affected)).length;
  if (affected.cascading.length === 0) return;
  for (;;) {
    const again = (await lockAffected(sql, schema, affected)).length;
    if (again === locked) return;
    locked = again;
  }
}
