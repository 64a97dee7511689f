import { InvalidStateError } from "./errors.js";
import type { JobId, JobStatus } from "./types.js";

/** How a retried job starts again: runnable, or waiting for `unfinished` dependencies to complete. */
export type Restart = { readonly status: "pending" } | { readonly status: "blocked"; readonly unfinished: number };

/** What `planRestart` reads of the job being retried. */
export interface RestartJob {
  readonly id: JobId;
  readonly status: JobStatus;
  readonly dependsOn: readonly JobId[];
  /** The dependency whose failure or cancellation cancelled it, when one did. */
  readonly cancelCause?: JobId | undefined;
}

/**
 * Decides how `retry(id)` restarts a job, so that it never runs before its dependencies: only a
 * failed or cancelled job restarts; pending when every dependency completed, blocked while some
 * have not; refused (`InvalidStateError` naming it) while one is failed or cancelled, since it
 * would never unblock: retrying that dependency brings its cancelled dependents back instead.
 * `statusOf` answers for each dependency, read under the lock of the write that persists the
 * restart; a dependency it does not know was deleted by retention after it finished. That one
 * completed, unless it is the job's cancel cause: a job cancelled by a dependency that is gone is
 * refused too, since that dependency failed or was cancelled and can never complete now.
 */
export function planRestart(job: RestartJob, statusOf: (id: JobId) => JobStatus | undefined): Restart {
  if (job.status !== "failed" && job.status !== "cancelled") throw new InvalidStateError(job.id, job.status, "retry");
  if (job.status === "cancelled" && job.cancelCause !== undefined && statusOf(job.cancelCause) === undefined) {
    throw new InvalidStateError(job.id, job.status, "retry", { id: job.cancelCause, status: "deleted" });
  }
  let unfinished = 0;
  for (const id of job.dependsOn) {
    const status = statusOf(id);
    if (status === "failed" || status === "cancelled") throw new InvalidStateError(job.id, job.status, "retry", { id, status });
    if (status !== undefined && status !== "completed") unfinished++;
  }
  return unfinished === 0 ? { status: "pending" } : { status: "blocked", unfinished };
}
