import { JobNotFoundError } from "./errors.js";
import type { Storage } from "./storage/storage.js";
import type { JobId, JobRecord } from "./types.js";

/** Most jobs `getJobGraph` answers, the job itself included. */
export const MAX_GRAPH_JOBS = 1_000;

/** A job's connected graph: the job, its ancestors and its descendants, transitively. */
export interface JobGraph {
  /** The job first, then its ancestors, then its descendants, each nearest first. */
  readonly jobs: readonly JobRecord[];
  /** `[dependent, dependency]` for every dependency between two jobs of `jobs`. */
  readonly edges: readonly (readonly [JobId, JobId])[];
  /** Whether ancestors or descendants were left out to stay within the bound. */
  readonly truncated: boolean;
}

/**
 * How many of each side a bounded graph keeps: `room` places, shared evenly, a side that needs
 * less than its half leaving the rest to the other, so neither a deep history nor a wide fan-out
 * hides the other side.
 */
export function splitGraphRoom(ancestors: number, descendants: number, room: number): { ancestors: number; descendants: number } {
  const kept = Math.min(ancestors, Math.max(Math.floor(room / 2), room - descendants));
  return { ancestors: kept, descendants: Math.min(descendants, room - kept) };
}

/**
 * The job's ancestors (what it waits for, transitively) and descendants (what waits for it,
 * transitively), not the other relatives (siblings through a shared ancestor), with the edges
 * among them, at most `maxJobs` jobs. Unknown id: `JobNotFoundError`.
 */
export async function readJobGraph(storage: Storage, id: JobId, maxJobs = MAX_GRAPH_JOBS): Promise<JobGraph> {
  // Each walk reads up to maxJobs, so a walk that reaches more shows the graph does not fit.
  const [ancestors, descendants] = await Promise.all([storage.walkGraph(id, "dependencies", maxJobs), storage.walkGraph(id, "dependents", maxJobs)]);
  const kept = splitGraphRoom(ancestors.length, descendants.length, maxJobs - 1);
  const order = [id, ...ancestors.slice(0, kept.ancestors), ...descendants.slice(0, kept.descendants)];
  const records = new Map((await storage.getJobs(order)).map((job) => [job.id, job]));
  if (!records.has(id)) throw new JobNotFoundError(id);
  // A job deleted by retention between the walk and the read is left out.
  const jobs = order.flatMap((jobId) => records.get(jobId) ?? []);
  const edges = jobs.flatMap((job) => job.dependsOn.filter((dependency) => records.has(dependency)).map((dependency) => [job.id, dependency] as const));
  return { jobs, edges, truncated: ancestors.length + descendants.length > maxJobs - 1 };
}
