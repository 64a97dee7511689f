/** A job's id: a UUID string made by the core before insert. */
export type JobId = string;

/** Every status a job can be in; see the lifecycle in README.md. */
export const JOB_STATUSES = ["blocked", "pending", "running", "completed", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses a job never leaves on its own. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ["completed", "failed", "cancelled"];
/** Statuses among which an idempotency key is unique. */
export const LIVE_STATUSES: readonly JobStatus[] = ["blocked", "pending", "running"];

/** Priority levels, most urgent first. Stored as their index (0 = critical). */
export const PRIORITIES = ["critical", "high", "normal", "low"] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Named numeric units a job needs while it runs, e.g. `{ cpu: 1, memoryMb: 512 }`. */
export type Resources = Readonly<Record<string, number>>;

/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** What is kept of an error: never a stack trace. */
export interface ErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

/** How the wait before the next attempt grows. */
export interface BackoffPolicy {
  readonly type: "exponential" | "fixed";
  readonly baseMs: number;
  readonly maxMs: number;
  readonly jitter: boolean;
}

/** One job as stored. Dates are `Date` objects; `payload` and `result` are JSON. */
export interface JobRecord {
  readonly id: JobId;
  readonly type: string;
  readonly status: JobStatus;
  readonly priority: Priority;
  readonly payload: Json;
  readonly result: Json | undefined;
  readonly error: ErrorInfo | undefined;
  /** Attempts started so far (an attempt interrupted by shutdown is given back). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  readonly dependsOn: readonly JobId[];
  readonly idempotencyKey: string | undefined;
  readonly resources: Resources;
  readonly timeoutMs: number | undefined;
  readonly runAt: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly startedAt: Date | undefined;
  readonly finishedAt: Date | undefined;
  /** One entry per attempt started, oldest first (kept across a `retry` of the job). */
  readonly attempts: readonly AttemptRecord[];
}

/** How an attempt ended: the settlement the worker (or the lease rescue, or a shutdown) stored. */
export const ATTEMPT_OUTCOMES = ["completed", "retry", "failed", "cancelled", "interrupted"] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** One attempt of a job: when it started and, once it ended, when and how. */
export interface AttemptRecord {
  readonly attempt: number;
  readonly startedAt: Date;
  readonly finishedAt?: Date;
  readonly outcome?: AttemptOutcome;
  readonly error?: ErrorInfo;
  readonly workerId?: string;
}

/** A job as the core hands it to storage for insert: everything decided, ids made; the fields of its record that the caller decides. */
export type NewJob = Pick<
  JobRecord,
  "id" | "type" | "priority" | "payload" | "maxAttempts" | "backoff" | "dependsOn" | "idempotencyKey" | "resources" | "timeoutMs" | "runAt"
>;

/** Log levels a handler may use with `ctx.log`. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One line of a job's history: a status change or a `ctx.log` line. */
export interface LogEntry {
  readonly seq: number;
  readonly at: Date;
  readonly attempt: number;
  readonly kind: "status" | "log";
  readonly level?: LogLevel;
  readonly message: string;
  readonly data?: Json;
}

/** A handler log line on its way to storage. */
export interface NewLogLine {
  readonly jobId: JobId;
  readonly attempt: number;
  readonly at: Date;
  readonly level: LogLevel;
  readonly message: string;
  readonly data?: Json;
}

/** A status change, as published by the storage change feed. Carries no job data. */
export interface JobChange {
  readonly id: JobId;
  readonly type: string;
  readonly status: JobStatus;
  readonly attempt: number;
  readonly at: Date;
  /** Set when a running job was asked to stop: its worker aborts the attempt's signal. */
  readonly cancelRequested?: boolean;
}

/** What a schedule does with ticks missed while no worker ran: one run for all of them, or none. */
export const MISFIRE_POLICIES = ["run-once", "skip"] as const;
export type MisfirePolicy = (typeof MISFIRE_POLICIES)[number];

/** Enqueue options a schedule gives each of its jobs (the idempotency key is the schedule's own). */
export interface ScheduleJobOptions {
  readonly priority?: Priority | undefined;
  readonly maxAttempts?: number | undefined;
  readonly backoff?: BackoffPolicy | undefined;
  readonly timeoutMs?: number | undefined;
  readonly resources?: Resources | undefined;
}

/** A cron schedule as `listSchedules` answers it. */
export interface ScheduleRecord {
  readonly name: string;
  readonly cron: string;
  /** An IANA time zone; undefined: UTC. */
  readonly timezone: string | undefined;
  readonly type: string;
  readonly payload: Json;
  readonly options: ScheduleJobOptions;
  readonly misfire: MisfirePolicy;
  /** The next tick to enqueue; undefined once the expression has no tick left. */
  readonly nextRunAt: Date | undefined;
  /** The tick of the last job this schedule enqueued. */
  readonly lastRunAt: Date | undefined;
}
