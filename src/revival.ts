import { indexDependents } from "./cascade.js";
import type { JobId, JobStatus } from "./types.js";

/** A job a cascade cancelled, below the job being retried. */
export interface CascadedJob {
  readonly id: JobId;
  /** The dependency whose failure or cancellation cancelled it. */
  readonly cancelCause: JobId;
  readonly dependsOn: readonly JobId[];
}

/** What retrying `rootId` changes below it. */
export interface RevivalPlan {
  /** Back to blocked, parents before children, each with its count of unfinished dependencies. */
  readonly revive: readonly { readonly id: JobId; readonly unfinished: number }[];
  /** Stay cancelled, now blamed on another dependency that is still failed or cancelled. */
  readonly reattributed: readonly { readonly id: JobId; readonly cause: JobId; readonly causeStatus: JobStatus }[];
}

const BROKEN: ReadonlySet<JobStatus> = new Set(["failed", "cancelled"]);

/**
 * Dependents cancelled because of `rootId`, transitively, that come back (to blocked) once it is
 * live again; one with another broken dependency stays cancelled and is blamed on that one instead.
 * `cascaded`: the jobs a cascade cancelled below `rootId`, reached through such jobs, in insertion
 * order; `statusOf` answers for every dependency of theirs outside it that still exists. Both read
 * under the locks of the write that persists the plan.
 */
export function planRevival(rootId: JobId, cascaded: readonly CascadedJob[], statusOf: (id: JobId) => JobStatus | undefined): RevivalPlan {
  const byId = new Map(cascaded.map((job) => [job.id, job]));
  const dependents = indexDependents(cascaded);
  const status = (id: JobId): JobStatus | undefined => (id === rootId ? "pending" : byId.has(id) ? "cancelled" : statusOf(id));
  const live = new Set<JobId>([rootId]);
  const causes = new Map<JobId, JobId>();
  const revived: JobId[] = [];
  const queue: JobId[] = [rootId];
  for (let next = 0; next < queue.length; next++) {
    const parent = queue[next] as JobId;
    for (const id of dependents.get(parent) ?? []) {
      const job = byId.get(id);
      if (job === undefined || live.has(id)) continue;
      if ((causes.get(id) ?? job.cancelCause) !== parent) continue;
      const blocker = job.dependsOn.find((dependency) => {
        const s = status(dependency);
        return !live.has(dependency) && s !== undefined && BROKEN.has(s);
      });
      if (blocker !== undefined) {
        causes.set(id, blocker);
        continue;
      }
      causes.delete(id);
      live.add(id);
      revived.push(id);
      queue.push(id);
    }
  }
  const statusAfter = (id: JobId): JobStatus | undefined => (live.has(id) ? (id === rootId ? "pending" : "blocked") : status(id));
  // A dependency `statusOf` does not know was deleted by retention (with its edge, meanwhile): it can
  // never complete, so counting it would leave the revived job blocked for good (as in `planRestart`).
  const unfinished = (s: JobStatus | undefined) => s !== undefined && s !== "completed";
  return {
    revive: revived.map((id) => ({
      id,
      unfinished: (byId.get(id)?.dependsOn ?? []).filter((dependency) => unfinished(statusAfter(dependency))).length,
    })),
    reattributed: [...causes].map(([id, cause]) => ({ id, cause, causeStatus: status(cause) ?? "cancelled" })),
  };
}
