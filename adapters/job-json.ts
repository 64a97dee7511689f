import type { JobRecord, LogEntry } from "../src/index.js";
import type { JobJson, LogEntryJson } from "./schemas.js";

/** A job in its HTTP form: an allow-list of fields, dates as ISO strings, absent values as null. */
export function jobToJson(job: JobRecord): JobJson {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    priority: job.priority,
    payload: job.payload,
    result: job.result ?? null,
    error: job.error === undefined ? null : job.error.code === undefined ? { name: job.error.name, message: job.error.message } : { name: job.error.name, message: job.error.message, code: job.error.code },
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    backoff: { type: job.backoff.type, baseMs: job.backoff.baseMs, maxMs: job.backoff.maxMs, jitter: job.backoff.jitter },
    dependsOn: [...job.dependsOn],
    idempotencyKey: job.idempotencyKey ?? null,
    resources: { ...job.resources },
    timeoutMs: job.timeoutMs ?? null,
    runAt: job.runAt.toISOString(),
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
  };
}

/** A history line in its HTTP form. */
export function logEntryToJson(entry: LogEntry): LogEntryJson {
  return {
    seq: entry.seq,
    at: entry.at.toISOString(),
    attempt: entry.attempt,
    kind: entry.kind,
    ...(entry.level === undefined ? {} : { level: entry.level }),
    message: entry.message,
    ...(entry.data === undefined ? {} : { data: entry.data }),
  };
}
