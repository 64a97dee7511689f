import type { AttemptRecord, ErrorInfo, JobRecord, LogEntry } from "../src/index.js";
import type { AttemptJson, ErrorJson, JobJson, LogEntryJson } from "./schemas.js";

/** A job in its HTTP form: an allow-list of fields, dates as ISO strings, absent values as null. */
export function jobToJson(job: JobRecord): JobJson {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    priority: job.priority,
    payload: job.payload,
    result: job.result ?? null,
    error: job.error === undefined ? null : errorToJson(job.error),
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
    attempts: job.attempts.map(attemptToJson),
  };
}

/** An attempt in its HTTP form: dates as ISO strings, absent values left out. */
function attemptToJson(entry: AttemptRecord): AttemptJson {
  return {
    attempt: entry.attempt,
    startedAt: entry.startedAt.toISOString(),
    ...(entry.finishedAt === undefined ? {} : { finishedAt: entry.finishedAt.toISOString() }),
    ...(entry.outcome === undefined ? {} : { outcome: entry.outcome }),
    ...(entry.error === undefined ? {} : { error: errorToJson(entry.error) }),
    ...(entry.workerId === undefined ? {} : { workerId: entry.workerId }),
  };
}

/** An error's allow-listed fields. */
function errorToJson(error: ErrorInfo): ErrorJson {
  return error.code === undefined ? { name: error.name, message: error.message } : { name: error.name, message: error.message, code: error.code };
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
