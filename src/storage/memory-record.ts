import type { TransitionRecord } from "../job-history.js";
import { copyJobRecord } from "../job-record-copy.js";
import type { JobChange, JobId, JobRecord } from "../types.js";
import type { Lease } from "./storage.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A job as the memory store keeps it: a mutable record plus its lease and graph bookkeeping. */
export interface StoredJob extends Mutable<JobRecord> {
  /** Insertion order. */
  readonly seq: number;
  /** Dependencies not completed yet, while blocked. */
  unfinished: number;
  leaseToken: string | undefined;
  leaseExpiresAt: Date | undefined;
  cancelRequested: boolean;
  /** The dependency whose failure cancelled this job, if that is why it is cancelled. */
  cancelCause: JobId | undefined;
  /** Status changes not made by a claim or settle, as `deriveJobLogs` reads them. */
  transitions: TransitionRecord[];
}

/** A typed `Object.assign` for the fields a status change touches. */
export function update(job: StoredJob, fields: Partial<StoredJob>): void {
  Object.assign(job, fields);
}

/** A copy for callers: nothing they do to it reaches the store. */
export function toRecord(job: StoredJob): JobRecord {
  return copyJobRecord(job);
}

/** The lease a running job is held by. */
export function leaseOf(job: StoredJob): Lease {
  return { jobId: job.id, token: job.leaseToken ?? "", attempt: job.attempt };
}

/** The change-feed entry for a job's current status. */
export function changeOf(job: StoredJob, now: Date): JobChange {
  return { id: job.id, type: job.type, status: job.status, attempt: job.attempt, at: now };
}

/** The error a dependent is cancelled with when its dependency failed or was cancelled. */
export { dependencyError } from "../cascade.js";
