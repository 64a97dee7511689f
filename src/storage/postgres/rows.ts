import { PRIORITIES } from "../../types.js";
import { ATTEMPT_OUTCOMES, JOB_STATUSES } from "../../types.js";
import type { AttemptOutcome, AttemptRecord, BackoffPolicy, ErrorInfo, Json, JobChange, JobRecord, JobStatus, LogLevel, Priority, Resources } from "../../types.js";
import { attemptOpened, type HandlerLine, type JobHistory, type TransitionRecord } from "../../job-history.js";
import type { Lease } from "../storage.js";
import type { SettledJobRow } from "./sql/settle.js";

/** A `jobs` row as the queries select it (int8 columns come back as text). */
export interface JobRow {
  readonly id: string;
  readonly seq: string;
  readonly type: string;
  readonly status: JobStatus;
  readonly priority: number;
  readonly payload: Json;
  readonly result: Json | null;
  readonly error: ErrorInfo | null;
  readonly attempt: number;
  readonly max_attempts: number;
  readonly backoff: BackoffPolicy;
  readonly idempotency_key: string | null;
  readonly resources: Resources;
  readonly timeout_ms: number | null;
  readonly run_at: Date;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly started_at: Date | null;
  readonly finished_at: Date | null;
  readonly lease_token: string | null;
  readonly lease_expires_at: Date | null;
  readonly cancel_requested: boolean;
  /** jsonb: the attempt entries, dates as text. */
  readonly attempts: unknown;
  readonly depends_on: readonly string[];
}

/**
 * A job row as a claim reports it (`claimedJobFields`): leased just now, so running, updated when it
 * started, with no cancel request, its last attempt entry the one the claim opened (`attemptOpened`);
 * its result, which a running job's record does not show, stays behind.
 */
export type ClaimedJobRow = Omit<JobRow, "seq" | "status" | "result" | "updated_at" | "lease_expires_at" | "cancel_requested" | "attempts"> & {
  readonly started_at: Date;
  readonly lease_token: string;
  /** jsonb: the attempt entries before the one the claim opened, dates as text. */
  readonly earlier_attempts: unknown;
};

/** The stored priority index as its name; an out-of-range value is a corrupt row. */
export function priorityOf(index: number): Priority {
  const priority = PRIORITIES[index];
  if (priority === undefined) throw new RangeError(`stored priority out of range: ${index}`);
  return priority;
}

/** A row as the library's `JobRecord`. */
export function toJobRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    priority: priorityOf(row.priority),
    payload: row.payload,
    // jsonb `null` and SQL NULL both arrive as null: a completed job's result is whatever it stored.
    result: row.status === "completed" ? (row.result ?? null) : undefined,
    error: row.error ?? undefined,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    backoff: row.backoff,
    dependsOn: [...row.depends_on],
    idempotencyKey: row.idempotency_key ?? undefined,
    resources: row.resources,
    timeoutMs: row.timeout_ms ?? undefined,
    runAt: row.run_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at ?? undefined,
    finishedAt: row.finished_at ?? undefined,
    attempts: attemptsOf(row.attempts),
  };
}

/**
 * A row leased by worker `workerId` (see `ClaimedJobRow`) as the library's `JobRecord`: the fields
 * `toJobRecord` would give its whole row.
 */
export function toClaimedJobRecord(row: ClaimedJobRow, workerId: string): JobRecord {
  return {
    id: row.id,
    type: row.type,
    status: "running",
    priority: priorityOf(row.priority),
    payload: row.payload,
    result: undefined,
    error: row.error ?? undefined,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    backoff: row.backoff,
    // Parsed for this record alone: nothing else holds the array.
    dependsOn: row.depends_on,
    idempotencyKey: row.idempotency_key ?? undefined,
    resources: row.resources,
    timeoutMs: row.timeout_ms ?? undefined,
    runAt: row.run_at,
    createdAt: row.created_at,
    updatedAt: new Date(row.started_at),
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? undefined,
    attempts: attemptOpened(attemptsOf(row.earlier_attempts), { attempt: row.attempt, startedAt: new Date(row.started_at), workerId }),
  };
}

/**
 * The record of a job settled by `settleAndUnblock`: the job as its lease was claimed (as stored: not
 * the handler's copy), with what the settle changed. Nothing else of a running job's row changes while
 * its lease is held.
 */
export function settledRecord(claimed: JobRecord, row: SettledJobRow): JobRecord {
  return {
    ...claimed,
    status: row.status,
    result: row.status === "completed" ? (row.result ?? null) : undefined,
    error: row.error ?? undefined,
    attempt: row.attempt,
    runAt: row.run_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at ?? undefined,
    attempts: withLastAttempt(claimed.attempts.slice(0, -1), row.last_attempt),
  };
}

/** `attempts` with `entry` (a jsonb attempt entry) added, unless it is not one. */
function withLastAttempt(attempts: AttemptRecord[], entry: unknown): AttemptRecord[] {
  const last = attemptOf(entry);
  if (last !== undefined) attempts.push(last);
  return attempts;
}

/** The lease a running row is held by. */
export function toLease(row: Pick<JobRow, "id" | "lease_token" | "attempt">): Lease {
  return { jobId: row.id, token: row.lease_token ?? "", attempt: row.attempt };
}

/** The `attempts` jsonb as records; an entry that is not one is left out. */
export function attemptsOf(value: unknown): AttemptRecord[] {
  const records: AttemptRecord[] = [];
  if (!Array.isArray(value)) return records;
  for (const entry of value) {
    const record = attemptOf(entry);
    if (record !== undefined) records.push(record);
  }
  return records;
}

/** One entry of the `attempts` jsonb as a record, or undefined if it is not one. */
function attemptOf(value: unknown): AttemptRecord | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const entry = value as Record<string, unknown>;
  const startedAt = dateOf(entry["startedAt"]);
  if (typeof entry["attempt"] !== "number" || startedAt === undefined) return undefined;
  const record: { -readonly [K in keyof AttemptRecord]: AttemptRecord[K] } = { attempt: entry["attempt"], startedAt };
  const finishedAt = dateOf(entry["finishedAt"]);
  if (finishedAt !== undefined) record.finishedAt = finishedAt;
  if ((ATTEMPT_OUTCOMES as readonly unknown[]).includes(entry["outcome"])) record.outcome = entry["outcome"] as AttemptOutcome;
  const error = errorOf(entry["error"]);
  if (error !== undefined) record.error = error;
  if (typeof entry["workerId"] === "string") record.workerId = entry["workerId"];
  return record;
}

/** The `transitions` jsonb as records; an entry that is not one is left out. */
export function transitionsOf(value: unknown): TransitionRecord[] {
  return objects(value).flatMap((entry): TransitionRecord[] => {
    const at = dateOf(entry["at"]);
    const from = entry["from"] === null ? null : statusOf(entry["from"]);
    const to = statusOf(entry["to"]);
    if (at === undefined || from === undefined || to === undefined || typeof entry["attempt"] !== "number") return [];
    const error = errorOf(entry["error"]);
    const record: TransitionRecord = { at, from, to, attempt: entry["attempt"] };
    return [error === undefined ? record : { ...record, error }];
  });
}

/** A `selectHistory` row as `deriveJobLogs` reads it. */
export function toJobHistory(row: { created_at: Date; attempts: unknown; transitions: unknown }): JobHistory {
  return { createdAt: row.created_at, attempts: attemptsOf(row.attempts), transitions: transitionsOf(row.transitions) };
}

/** Handler lines as `selectHistory` aggregates them; absent data stays absent. */
export function toHandlerLines(lines: readonly { at: string; attempt: number; level: string; message: string; data: unknown }[]): HandlerLine[] {
  return lines.map((line) => {
    const entry: HandlerLine = { at: new Date(line.at), attempt: line.attempt, level: line.level as LogLevel, message: line.message };
    return line.data === null ? entry : { ...entry, data: line.data as Json };
  });
}

function objects(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter((entry): entry is Record<string, unknown> => typeof entry === "object" && entry !== null) : [];
}

function dateOf(value: unknown): Date | undefined {
  if (typeof value !== "string") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function statusOf(value: unknown): JobStatus | undefined {
  return (JOB_STATUSES as readonly unknown[]).includes(value) ? (value as JobStatus) : undefined;
}

function errorOf(value: unknown): ErrorInfo | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { name, message, code } = value as Record<string, unknown>;
  if (typeof name !== "string" || typeof message !== "string") return undefined;
  return typeof code === "string" ? { name, message, code } : { name, message };
}

/** A change as it travels in a notification: `[id, type, status, attempt, cancelRequested?]`. */
export type ChangeTuple = readonly [string, string, JobStatus, number] | readonly [string, string, JobStatus, number, 1];

/** A status change made by this store, before it is published. */
export interface StoredChange {
  readonly id: string;
  readonly type: string;
  readonly status: JobStatus;
  readonly attempt: number;
  readonly cancelRequested?: boolean;
}

export function toChangeTuple(change: StoredChange): ChangeTuple {
  return change.cancelRequested === true
    ? [change.id, change.type, change.status, change.attempt, 1]
    : [change.id, change.type, change.status, change.attempt];
}

/** A change of this store's as subscribers get it, stamped with the time it was published. */
export function toJobChange(change: StoredChange, at: Date): JobChange {
  const { id, type, status, attempt } = change;
  return change.cancelRequested === true ? { id, type, status, attempt, at, cancelRequested: true } : { id, type, status, attempt, at };
}

/** A `JobChange` from a tuple received in a notification, or undefined if it is malformed. */
export function fromChangeTuple(value: unknown, at: Date): JobChange | undefined {
  if (!Array.isArray(value) || value.length < 4) return undefined;
  const [id, type, status, attempt, cancel] = value as unknown[];
  if (typeof id !== "string" || typeof type !== "string" || typeof status !== "string" || typeof attempt !== "number") return undefined;
  return toJobChange({ id, type, status: status as JobStatus, attempt, cancelRequested: cancel === 1 }, at);
}

/** Postgres refuses notification payloads of 8000 bytes or more; stay well below, with room for the tag of a store's own write (at most 25 bytes). */
const MAX_PAYLOAD_BYTES = 7900;

/** Packs changes into as few notification payloads (JSON arrays of tuples) as fit the limit. */
export function chunkNotifications(changes: readonly StoredChange[]): string[] {
  const payloads: string[] = [];
  let parts: string[] = [];
  let bytes = 2;
  for (const change of changes) {
    let part = JSON.stringify(toChangeTuple(change));
    // A pathological type name must not make pg_notify fail the transaction; the id is what matters.
    if (Buffer.byteLength(part) > MAX_PAYLOAD_BYTES - 2) part = JSON.stringify(toChangeTuple({ ...change, type: "" }));
    const size = Buffer.byteLength(part) + 1;
    if (parts.length > 0 && bytes + size > MAX_PAYLOAD_BYTES) {
      payloads.push(`[${parts.join(",")}]`);
      parts = [];
      bytes = 2;
    }
    parts.push(part);
    bytes += size;
  }
  if (parts.length > 0) payloads.push(`[${parts.join(",")}]`);
  return payloads;
}
