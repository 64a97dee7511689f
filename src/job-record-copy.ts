import type { AttemptRecord, JobRecord } from "./types.js";

/**
 * A copy of a job record that shares no object with it: what a handler does to its `ctx.job` or its
 * payload must not reach the record a store reports after the attempt.
 */
export function copyJobRecord(job: JobRecord): JobRecord {
  return {
    ...job,
    payload: typeof job.payload === "object" && job.payload !== null ? structuredClone(job.payload) : job.payload,
    result: typeof job.result === "object" && job.result !== null ? structuredClone(job.result) : job.result,
    error: job.error === undefined ? undefined : { ...job.error },
    backoff: { ...job.backoff },
    dependsOn: [...job.dependsOn],
    resources: { ...job.resources },
    runAt: new Date(job.runAt),
    createdAt: new Date(job.createdAt),
    updatedAt: new Date(job.updatedAt),
    startedAt: job.startedAt === undefined ? undefined : new Date(job.startedAt),
    finishedAt: job.finishedAt === undefined ? undefined : new Date(job.finishedAt),
    attempts: job.attempts.map(copyAttempt),
  };
}

function copyAttempt(entry: AttemptRecord): AttemptRecord {
  const copy: { -readonly [K in keyof AttemptRecord]: AttemptRecord[K] } = { ...entry, startedAt: new Date(entry.startedAt) };
  if (entry.finishedAt !== undefined) copy.finishedAt = new Date(entry.finishedAt);
  if (entry.error !== undefined) copy.error = { ...entry.error };
  return copy;
}
