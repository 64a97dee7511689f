import { JobNotFoundError } from "./errors.js";
import { jobBytes } from "./job-bytes.js";
import type { Storage } from "./storage/storage.js";
import type { JobId, JobRecord } from "./types.js";

/** Most jobs `getJobGraph` answers, the job itself included. */
export const MAX_GRAPH_JOBS = 1_000;
/**
 * Most bytes of payload, result and error JSON `getJobGraph` answers past the job itself, as a list
 * page: 1,000 jobs of large payloads would otherwise make one answer of a gigabyte.
 */
export const MAX_GRAPH_BYTES = 4 * 1_048_576;
/** Jobs read per `getJobs` call, so a graph of large jobs is dropped before all of it is read. */
const READ_CHUNK = 100;

/** A job's connected graph: the job, its ancestors and its descendants, transitively. */
export interface JobGraph {
  /** The job first, then its ancestors, then its descendants, each nearest first. */
  readonly jobs: readonly JobRecord[];
  /** `[dependent, dependency]` for every dependency between two jobs of `jobs`. */
  readonly edges: readonly (readonly [JobId, JobId])[];
  /** Whether ancestors or descendants were left out to stay within the bounds. */
  readonly truncated: boolean;
}

/** The bounds of one graph. */
export interface GraphBounds {
  readonly maxJobs: number;
  readonly maxBytes: number;
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

/** The two sides taken in turns, nearest first: the order in which the byte bound keeps jobs. */
function alternate(first: readonly JobId[], second: readonly JobId[]): JobId[] {
  const turns: JobId[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) turns.push(...first.slice(i, i + 1), ...second.slice(i, i + 1));
  return turns;
}

/**
 * The job's ancestors (what it waits for, transitively) and descendants (what waits for it,
 * transitively), not the other relatives (siblings through a shared ancestor), with the edges
 * among them: at most `maxJobs` jobs, and past the job itself at most `maxBytes` of their JSON,
 * the nearest on both sides kept. Unknown id: `JobNotFoundError`.
 */
export async function readJobGraph(storage: Storage, id: JobId, bounds: GraphBounds = { maxJobs: MAX_GRAPH_JOBS, maxBytes: MAX_GRAPH_BYTES }): Promise<JobGraph> {
  // Each walk reads up to maxJobs, so a walk that reaches more shows the graph does not fit.
  const [up, down] = await Promise.all([storage.walkGraph(id, "dependencies", bounds.maxJobs), storage.walkGraph(id, "dependents", bounds.maxJobs)]);
  const room = splitGraphRoom(up.length, down.length, bounds.maxJobs - 1);
  const ancestors = up.slice(0, room.ancestors);
  const descendants = down.slice(0, room.descendants);
  let truncated = up.length + down.length > bounds.maxJobs - 1;

  const records = new Map<JobId, JobRecord>();
  const wanted = [id, ...alternate(ancestors, descendants)];
  let bytes = 0;
  reading: for (let start = 0; start < wanted.length; start += READ_CHUNK) {
    const chunk = wanted.slice(start, start + READ_CHUNK);
    const read = new Map((await storage.getJobs(chunk)).map((job) => [job.id, job]));
    if (start === 0 && !read.has(id)) throw new JobNotFoundError(id);
    for (const jobId of chunk) {
      // A job deleted by retention between the walk and the read is left out.
      const job = read.get(jobId);
      if (job === undefined) continue;
      const size = jobId === id ? 0 : jobBytes(job);
      if (bytes + size > bounds.maxBytes) {
        truncated = true;
        break reading;
      }
      bytes += size;
      records.set(jobId, job);
    }
  }
  const jobs = [id, ...ancestors, ...descendants].flatMap((jobId) => records.get(jobId) ?? []);
  const edges = jobs.flatMap((job) => job.dependsOn.filter((dependency) => records.has(dependency)).map((dependency) => [job.id, dependency] as const));
  return { jobs, edges, truncated };
}
