import type { AttemptRecord, Json, JobRecord } from "./types.js";

/**
 * A copy of a job record that shares no object with it, with the record's fields only (a store's own
 * bookkeeping on a wider object is left behind): what a caller or a handler does to the copy never
 * reaches the original, nor the other way round.
 */
export function copyJobRecord(job: JobRecord): JobRecord {
  return {
    id: job.id, type: job.type, status: job.status, priority: job.priority, payload: copyJson(job.payload),
    result: job.result === undefined ? undefined : copyJson(job.result), error: job.error && { ...job.error },
    attempt: job.attempt, maxAttempts: job.maxAttempts, backoff: { ...job.backoff }, dependsOn: [...job.dependsOn],
    idempotencyKey: job.idempotencyKey, resources: { ...job.resources }, timeoutMs: job.timeoutMs, runAt: new Date(job.runAt),
    createdAt: new Date(job.createdAt), updatedAt: new Date(job.updatedAt), startedAt: copyDate(job.startedAt),
    finishedAt: copyDate(job.finishedAt), attempts: job.attempts.map(copyAttempt),
  };
}

function copyDate(date: Date | undefined): Date | undefined {
  return date === undefined ? undefined : new Date(date);
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
  const object = value as { readonly [key: string]: Json };
  // Keys, not entries: no [key, member] pair to allocate per member.
  for (const key of Object.keys(object)) {
    const member = object[key] as Json;
    // A "__proto__" member (JSON.parse makes it an own property) must stay one, not become the prototype.
    if (key === "__proto__") Object.defineProperty(copy, key, { value: copyJson(member), enumerable: true, writable: true, configurable: true });
    else copy[key] = copyJson(member);
  }
  return copy;
}
