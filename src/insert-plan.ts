import { dependencyError } from "./cascade.js";
import { DuplicateJobError, UnknownDependencyError, ValidationError } from "./errors.js";
import { LIVE_STATUSES } from "./types.js";
import type { ErrorInfo, JobId, JobStatus, NewJob } from "./types.js";

/** A job an insert refers to, as the store knows it: stored already, or planned earlier in the batch. */
export interface KnownJob {
  readonly id: JobId;
  readonly status: JobStatus;
}

/** What a store reads before it plans an insert (under its locks, so the plan holds until it writes). */
export interface InsertLookup {
  /** The stored job with this id, if any. */
  stored(id: JobId): KnownJob | undefined;
  /** The live job (blocked, pending or running) holding this idempotency key, if any. */
  liveHolder(key: string): KnownJob | undefined;
}

/** One job of the batch as planned: inserted with its initial status, or mapped to the live job holding its key. */
export type PlannedJob =
  | { readonly type: "existing"; readonly node: NewJob; readonly holder: KnownJob }
  | {
      readonly type: "inserted";
      readonly node: NewJob;
      /** Its dependencies, each once, a duplicate's id replaced by the id of the job holding its key. */
      readonly dependsOn: readonly JobId[];
      readonly status: JobStatus;
      /** Dependencies not completed yet (0 for a job cancelled at once). */
      readonly unfinished: number;
      /** The first dependency already failed or cancelled: the job is cancelled at once, blamed on it. */
      readonly cause: KnownJob | undefined;
      readonly error: ErrorInfo | undefined;
    };

const LIVE: ReadonlySet<JobStatus> = new Set(LIVE_STATUSES);

/**
 * Plans an insert, as every store must (the jobs come in topological order): an id that exists is
 * refused, as is a dependency that is neither stored nor in the batch; a job whose idempotency key a
 * live job (stored, or earlier in the batch) holds is refused (`reject`) or becomes that job
 * (`return-existing`, and later jobs of the batch depending on it depend on that job); every other
 * job starts `cancelled` when a dependency already failed or was cancelled, `blocked` while one is
 * unfinished, else `pending`. Throws before anything is stored.
 */
export function planInsert(jobs: readonly NewJob[], onDuplicate: "reject" | "return-existing", lookup: InsertLookup): PlannedJob[] {
  const batchIds = new Set(jobs.map((job) => job.id));
  const planned = new Map<JobId, KnownJob>();
  const batchKeys = new Map<string, KnownJob>();
  const replacedBy = new Map<JobId, JobId>();
  const known = (id: JobId) => planned.get(id) ?? lookup.stored(id);
  return jobs.map((node): PlannedJob => {
    if (known(node.id) !== undefined) throw new ValidationError(`job id already exists: ${node.id}`);
    const dependsOn = [...new Set(node.dependsOn.map((id) => replacedBy.get(id) ?? id))];
    for (const id of dependsOn) if (known(id) === undefined && !batchIds.has(id)) throw new UnknownDependencyError(id, node.id);
    const key = node.idempotencyKey;
    const holder = key === undefined ? undefined : (batchKeys.get(key) ?? lookup.liveHolder(key));
    if (key !== undefined && holder !== undefined) {
      if (onDuplicate === "reject") throw new DuplicateJobError(holder.id, holder.status, key);
      replacedBy.set(node.id, holder.id);
      return { type: "existing", node, holder };
    }
    let unfinished = 0;
    let cause: KnownJob | undefined;
    for (const id of dependsOn) {
      const dependency = known(id);
      if (dependency?.status === "failed" || dependency?.status === "cancelled") cause ??= dependency;
      if (dependency?.status !== "completed") unfinished++;
    }
    const status: JobStatus = cause !== undefined ? "cancelled" : unfinished > 0 ? "blocked" : "pending";
    const job = { id: node.id, status };
    planned.set(node.id, job);
    if (key !== undefined && LIVE.has(status)) batchKeys.set(key, job);
    return {
      type: "inserted", node, dependsOn, status, unfinished: cause === undefined ? unfinished : 0, cause,
      error: cause === undefined ? undefined : dependencyError(cause.id, cause.status),
    };
  });
}
