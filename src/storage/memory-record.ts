import type { TransitionRecord } from "../job-history.js";
import type { AttemptRecord, JobChange, JobId, JobRecord } from "../types.js";
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
  return {
    id: job.id, type: job.type, status: job.status, priority: job.priority, payload: structuredClone(job.payload),
    result: job.result === undefined ? undefined : structuredClone(job.result), error: job.error && { ...job.error },
    attempt: job.attempt, maxAttempts: job.maxAttempts, backoff: { ...job.backoff }, dependsOn: [...job.dependsOn],
    idempotencyKey: job.idempotencyKey, resources: { ...job.resources }, timeoutMs: job.timeoutMs, runAt: new Date(job.runAt),
    createdAt: new Date(job.createdAt), updatedAt: new Date(job.updatedAt), startedAt: copyDate(job.startedAt), finishedAt: copyDate(job.finishedAt),
    attempts: job.attempts.map(copyAttempt),
  };
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

function copyDate(date: Date | undefined): Date | undefined {
  return date === undefined ? undefined : new Date(date);
}

function copyAttempt(entry: AttemptRecord): AttemptRecord {
  const copy: AttemptRecord = { ...entry, startedAt: new Date(entry.startedAt) };
  const finished = entry.finishedAt === undefined ? copy : { ...copy, finishedAt: new Date(entry.finishedAt) };
  return entry.error === undefined ? finished : { ...finished, error: { ...entry.error } };
}
