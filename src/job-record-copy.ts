import type { AttemptRecord, Json, JobRecord } from "./types.js";

/**
 * A copy of a job record that shares no object with it: what a handler does to its `ctx.job` or its
 * payload must not reach the record a store reports after the attempt.
 */
export function copyJobRecord(job: JobRecord): JobRecord {
  return {
    ...job,
    payload: copyJson(job.payload),
    result: job.result === undefined ? undefined : copyJson(job.result),
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

/** A deep copy of a JSON value (several times cheaper than `structuredClone` for the small documents jobs carry). */
function copyJson(value: Json): Json {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const copy: { [key: string]: Json } = {};
  for (const [key, member] of Object.entries(value)) {
    // A "__proto__" member (JSON.parse makes it an own property) must stay one, not become the prototype.
    if (key === "__proto__") Object.defineProperty(copy, key, { value: copyJson(member), enumerable: true, writable: true, configurable: true });
    else copy[key] = copyJson(member);
  }
  return copy;
}
