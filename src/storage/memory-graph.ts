import type { CascadedJob } from "../revival.js";
import type { GraphDirection } from "./storage.js";
import type { JobId, JobStatus } from "../types.js";

/** What the dependency bookkeeping reads of a stored job. */
export interface GraphJob {
  readonly status: JobStatus;
  readonly dependsOn: readonly JobId[];
  /** The dependency whose failure or cancellation cancelled this job, if that is why it is cancelled. */
  readonly cancelCause: JobId | undefined;
  /** Insertion order. */
  readonly seq: number;
}

/** Looks a job up by id. */
export type GraphLookup = (id: JobId) => GraphJob | undefined;

/**
 * The dependents-by-id adjacency of the memory store, so that unblocking, cascades and revivals
 * walk only the edges they need. It finds; the core plans (`planCascade`, `planRevival`); the store
 * applies the status changes.
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

  /**
   * The jobs a cascade cancelled below `rootId`, reached through such jobs, in insertion order:
   * what `planRevival` needs to know to retry `rootId`.
   */
  cascadedBelow(rootId: JobId, lookup: GraphLookup): CascadedJob[] {
    const found: (CascadedJob & { seq: number })[] = [];
    const seen = new Set<JobId>([rootId]);
    const queue: JobId[] = [rootId];
    for (let next = 0; next < queue.length; next++) {
      for (const id of this.dependentsOf(queue[next] as JobId)) {
        const job = lookup(id);
        if (seen.has(id) || job === undefined || job.status !== "cancelled" || job.cancelCause === undefined) continue;
        seen.add(id);
        found.push({ id, cancelCause: job.cancelCause, dependsOn: job.dependsOn, seq: job.seq });
        queue.push(id);
      }
    }
    return found.sort((a, b) => a.seq - b.seq).map(({ id, cancelCause, dependsOn }) => ({ id, cancelCause, dependsOn }));
  }

  /**
   * The distinct jobs reachable from `id` in one direction, breadth first (nearest first), without
   * `id` itself, at most `limit`: what `Storage.walkGraph` answers.
   */
  walk(id: JobId, direction: GraphDirection, limit: number, lookup: GraphLookup): JobId[] {
    const next = (from: JobId) => (direction === "dependents" ? this.dependentsOf(from) : (lookup(from)?.dependsOn ?? []));
    const seen = new Set<JobId>([id]);
    const found: JobId[] = [];
    for (let i = -1; i < found.length && found.length < limit; i++) {
      for (const reached of next(i < 0 ? id : (found[i] as JobId))) {
        if (found.length >= limit) break;
        if (seen.has(reached) || lookup(reached) === undefined) continue;
        seen.add(reached);
        found.push(reached);
      }
    }
    return found;
  }
}
