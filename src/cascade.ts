import type { ErrorInfo, JobId, JobStatus } from "./types.js";

/** What the cascade reads of a job below a failed or cancelled one. */
export interface CascadeJob {
  readonly status: JobStatus;
  /** Insertion order: victims of one depth come back in it. */
  readonly seq: number;
  /** Its dependencies in their given order: a tie between nearest causes goes to the first listed. */
  readonly dependsOn: readonly JobId[];
}

/** A job that failed or was cancelled, whose waiting dependents go down with it. */
export interface CascadeRoot {
  readonly id: JobId;
  readonly status: JobStatus;
}

/** A dependent to cancel: the dependency it is blamed on, that one's status, and the root it came from. */
export interface CascadeVictim {
  readonly id: JobId;
  readonly cause: JobId;
  readonly causeStatus: JobStatus;
  readonly root: JobId;
  /** Edges from the nearest root: 1 for a direct dependent. */
  readonly depth: number;
}

const WAITING: ReadonlySet<JobStatus> = new Set(["blocked", "pending"]);

/**
 * Every transitive dependent still blocked or pending below `roots`, found by one breadth-first
 * walk that visits each job and each edge once (a dense graph has about n^2/2 edges, and as many
 * paths as subsets). Each victim is blamed on its nearest broken dependency (a root, or a victim
 * one step nearer to a root), the first in its `dependsOn` order among equals; its root is that
 * cause's root. Answers victims nearest first, then in insertion order. `dependentsOf` and `lookup`
 * answer for the jobs below the roots; stores call it under the locks of the write that persists it.
 */
export function planCascade(
  roots: readonly CascadeRoot[],
  dependentsOf: (id: JobId) => readonly JobId[],
  lookup: (id: JobId) => CascadeJob | undefined,
): CascadeVictim[] {
  const depth = new Map<JobId, number>();
  const rootStatus = new Map<JobId, JobStatus>();
  for (const root of roots) {
    depth.set(root.id, 0);
    rootStatus.set(root.id, root.status);
  }
  const found: { id: JobId; job: CascadeJob; depth: number; parent: JobId }[] = [];
  let frontier: JobId[] = roots.map((root) => root.id);
  for (let level = 1; frontier.length > 0; level++) {
    const next: JobId[] = [];
    for (const parent of frontier) {
      for (const id of dependentsOf(parent)) {
        if (depth.has(id)) continue;
        const job = lookup(id);
        if (job === undefined || !WAITING.has(job.status)) continue;
        depth.set(id, level);
        found.push({ id, job, depth: level, parent });
        next.push(id);
      }
    }
    frontier = next;
  }

  const rootOf = new Map<JobId, JobId>(roots.map((root) => [root.id, root.id]));
  // `found` is in depth order, so a cause's root is known before its victims ask for it.
  const victims = found.map(({ id, job, depth: d, parent }): CascadeVictim & { seq: number } => {
    const cause = job.dependsOn.find((dependency) => depth.get(dependency) === d - 1) ?? parent;
    const root = rootOf.get(cause) as JobId;
    rootOf.set(id, root);
    return { id, cause, causeStatus: rootStatus.get(cause) ?? "cancelled", root, depth: d, seq: job.seq };
  });
  victims.sort((a, b) => a.depth - b.depth || a.seq - b.seq);
  return victims.map(({ id, cause, causeStatus, root, depth: d }) => ({ id, cause, causeStatus, root, depth: d }));
}

/** The error a dependent is cancelled with when its dependency failed or was cancelled. */
export function dependencyError(dependency: JobId, status: JobStatus): ErrorInfo {
  return { name: "DependencyFailedError", message: `dependency ${dependency} ${status}`, code: "DEPENDENCY_FAILED" };
}

/** For jobs with their dependencies, the jobs among them that depend on each id (in the jobs' order). */
export function indexDependents(jobs: Iterable<{ readonly id: JobId; readonly dependsOn: readonly JobId[] }>): Map<JobId, JobId[]> {
  const dependents = new Map<JobId, JobId[]>();
  for (const job of jobs) {
    for (const dependency of job.dependsOn) {
      const list = dependents.get(dependency);
      if (list === undefined) dependents.set(dependency, [job.id]);
      else list.push(job.id);
    }
  }
  return dependents;
}
