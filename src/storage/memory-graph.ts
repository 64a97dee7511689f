import type { JobId, JobStatus } from "../types.js";

/** What the dependency bookkeeping reads of a stored job. */
export interface GraphJob {
  readonly status: JobStatus;
  readonly dependsOn: readonly JobId[];
  /** The dependency whose failure or cancellation cancelled this job, if that is why it is cancelled. */
  readonly cancelCause: JobId | undefined;
}

/** Looks a job up by id. */
export type GraphLookup = (id: JobId) => GraphJob | undefined;

/** A dependent to cancel, and the dependency that brings it down. */
export interface CascadeVictim {
  readonly id: JobId;
  readonly cause: JobId;
}

/** What `retryJob` will change in the graph below the retried job. */
export interface RevivalPlan {
  /** Dependents to bring back to blocked, parents before children. */
  readonly revive: readonly JobId[];
  /** Dependents that stay cancelled because another dependency is still failed or cancelled. */
  readonly reattributed: readonly CascadeVictim[];
}

const BROKEN: ReadonlySet<JobStatus> = new Set(["failed", "cancelled"]);

/**
 * The dependents-by-id adjacency of the memory store, so that unblocking, cascades and revivals
 * walk only the edges they need. It plans; the store applies the status changes.
 */
export class DependencyGraph {
  private readonly dependents = new Map<JobId, JobId[]>();

  /** Records that `id` waits for each of `dependsOn`. */
  addEdges(id: JobId, dependsOn: readonly JobId[]): void {
    for (const dependency of dependsOn) {
      const list = this.dependents.get(dependency);
      if (list === undefined) this.dependents.set(dependency, [id]);
      else list.push(id);
    }
  }

  /** Forgets a deleted job: its own edges and the edges of its dependents to it. */
  removeJob(id: JobId, dependsOn: readonly JobId[]): void {
    this.dependents.delete(id);
    for (const dependency of dependsOn) {
      const list = this.dependents.get(dependency)?.filter((dependent) => dependent !== id);
      if (list === undefined) continue;
      if (list.length === 0) this.dependents.delete(dependency);
      else this.dependents.set(dependency, list);
    }
  }

  /** Direct dependents of a job. */
  dependentsOf(id: JobId): readonly JobId[] {
    return this.dependents.get(id) ?? [];
  }

  /** How many of `dependsOn` are not completed yet. */
  countUnfinished(dependsOn: readonly JobId[], lookup: GraphLookup): number {
    return dependsOn.filter((dependency) => lookup(dependency)?.status !== "completed").length;
  }

  /**
   * Dependents cancelled because of `rootId`, transitively, that can come back once it is live
   * again; one that has another broken dependency stays cancelled and is blamed on that one instead.
   */
  planRevival(rootId: JobId, lookup: GraphLookup): RevivalPlan {
    const revive: JobId[] = [];
    const live = new Set<JobId>([rootId]);
    const causes = new Map<JobId, JobId>();
    const queue: JobId[] = [rootId];
    for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
      for (const id of this.dependentsOf(parent)) {
        const job = lookup(id);
        if (job === undefined || live.has(id) || job.status !== "cancelled") continue;
        if ((causes.get(id) ?? job.cancelCause) !== parent) continue;
        const blocker = job.dependsOn.find((dependency) => {
          const status = lookup(dependency)?.status;
          return !live.has(dependency) && status !== undefined && BROKEN.has(status);
        });
        if (blocker !== undefined) {
          causes.set(id, blocker);
          continue;
        }
        causes.delete(id);
        live.add(id);
        revive.push(id);
        queue.push(id);
      }
    }
    return { revive, reattributed: [...causes].map(([id, cause]) => ({ id, cause })) };
  }
}
